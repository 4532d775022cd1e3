"""``automl bench import nb201``: tiny files in each official format round-trip into the store.

The files are written with the official packages' own classes (``nats_bench``,
``nas_201_api``) by :mod:`automl_nas_eval_tabular.synthetic`, whose closed-form values say
what every stored column must hold (means over seeds, per-seed values, x-valid/ori-test/
x-test conventions, 12-epoch validation, costs, simulated query time).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from automl_nas.api import Genotype
from automl_nas.benchstore import TableStore, file_sha256
from automl_nas.errors import DataError, RecipeError
from automl_nas_eval_tabular import synthetic as syn
from automl_nas_eval_tabular.bench import AnalogBenchmark, Nb201Benchmark
from automl_nas_eval_tabular.config import TableConfig
from automl_nas_eval_tabular.nb201_columns import column
from automl_nas_eval_tabular.preflight import check_table
from automl_nas_eval_tabular.table import Nb201Table

COUNT = 4


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("nb201-official")
    return {"nats-simple": syn.write_nats_simple(d / "NATS-tss-v1_0-tiny-simple", COUNT),
            "nats-pbz2": syn.write_nats_pbz2(d / "NATS-tss-v1_0-tiny.pickle", COUNT),
            "nb201-pth": syn.write_nb201_pth(d / "NAS-Bench-201-v1_1-tiny.pth", COUNT),
            "nb201-pth-legacy": syn.write_nb201_pth(d / "NAS-Bench-201-v1_0-tiny.pth", COUNT, legacy=True)}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("kind", ["nats-simple", "nats-pbz2", "nb201-pth", "nb201-pth-legacy"])
def test_official_formats_round_trip(kind, sources, tmp_path):
    store = TableStore(tmp_path / "store")
    seen: list[tuple[int, int]] = []
    manifest = Nb201Benchmark().import_from(sources[kind], store, lambda done, total: seen.append((done, total)))
    assert (manifest.source_kind, manifest.rows, manifest.source) == (kind.removesuffix("-legacy"), COUNT, sources[kind].name)
    assert len(manifest.source_sha256) == 64
    assert manifest.notes == (f"covers {COUNT} of the 15,625 cells: lookups of the others fail",)
    assert seen[-1][0] == seen[-1][1] > 0  # the progress bar reaches the end
    table = store.read("nb201")
    assert table["arch"] == syn.archs(COUNT)
    for i in range(COUNT):
        expected = syn.expected_row(i)
        assert set(table) - {"arch"} == set(expected)
        wrong = {k: (table[k][i], v) for k, v in expected.items() if not _close(table[k][i], v)}
        assert not wrong, wrong
    # the conventions, spelled out once: CIFAR-10 test is ori-test of "cifar10", its validation
    # is x-valid of "cifar10-valid"; CIFAR-100 test is x-test
    assert table["cifar10"][1] == pytest.approx(syn.accuracy(1, "cifar10", "ori-test", 777, "200") + 0.0555, abs=1e-9)
    assert table[column("cifar10", "valid", 888)][1] == syn.accuracy(1, "cifar10-valid", "x-valid", 888, "200")
    assert table[column("cifar100", "test", 777)][2] == syn.accuracy(2, "cifar100", "x-test", 777, "200")


def test_csv_import_keeps_columns_and_says_it_has_no_validation(tmp_path):
    csv = tmp_path / "t.csv"
    arch = syn.archs(2)
    csv.write_text(f"arch,cifar10,cifar100\n{arch[0]},90.5,70\n{arch[1]},80,\n")
    store = TableStore(tmp_path / "store")
    manifest = Nb201Benchmark().import_from(csv, store)
    assert manifest.columns == ("cifar10", "cifar100") and manifest.rows == 2
    assert any("no validation accuracies" in note for note in manifest.notes)
    assert "covers 2 of the 15,625 cells" in manifest.notes[-1]
    table = store.read("nb201")
    assert table["cifar10"] == [90.5, 80.0] and math.isnan(table["cifar100"][1])


def test_import_refusals_name_the_file_and_the_formats(tmp_path):
    store = TableStore(tmp_path / "store")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match=r"x\.txt: unknown benchmark file type"):
        Nb201Benchmark().import_from(tmp_path / "x.txt", store)
    (tmp_path / "junk.pbz2").write_bytes(b"not bz2")
    with pytest.raises(DataError, match=r"(?s)junk\.pbz2: not a readable nats-pbz2.*fix: pass an intact copy"):
        Nb201Benchmark().import_from(tmp_path / "junk.pbz2", store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="without meta.pickle.pbz2"):
        Nb201Benchmark().import_from(tmp_path / "empty", store)
    (tmp_path / "noarch.csv").write_text("cell,acc\nx,1\n")
    with pytest.raises(DataError, match="no 'arch' column"):
        Nb201Benchmark().import_from(tmp_path / "noarch.csv", store)
    assert store.manifest("nb201") is None  # nothing half-written


def test_evaluator_reads_the_store_and_picks_columns(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path))
    Nb201Benchmark().import_from(sources["nats-simple"], TableStore())
    cell = Genotype("nb201", syn.archs(COUNT)[3])
    row = syn.expected_row(3)
    default = Nb201Table(TableConfig())
    assert default.metrics == ("cifar10", "cifar100", "ImageNet16-120",
                               "cifar10_valid", "cifar100_valid", "ImageNet16-120_valid")
    assert default.evaluate(cell) == pytest.approx({k: row[k] for k in default.metrics})
    one = Nb201Table(TableConfig(dataset="cifar100", metric="valid_12ep"))
    assert one.evaluate(cell) == {"cifar100_valid_12ep": pytest.approx(row["cifar100_valid_12ep"])}
    assert Nb201Table(TableConfig(metric="time_12ep")).metrics == (
        "cifar10_time_12ep", "cifar100_time_12ep", "ImageNet16-120_time_12ep")
    check_table(TableConfig(dataset="cifar10", metric="valid"), "nb201-table")  # installed, column present


def test_preflight_on_a_test_only_table_names_the_official_files(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path))
    with pytest.raises(DataError, match="(?s)not installed.*automl bench import nb201 PATH.*automl bench fetch nb201"):
        check_table(TableConfig(), "nb201-table")
    (tmp_path / "t.csv").write_text(f"arch,cifar10\n{syn.archs(1)[0]},90\n")
    Nb201Benchmark().import_from(tmp_path / "t.csv", TableStore())
    check_table(TableConfig(), "nb201-table")
    with pytest.raises(RecipeError, match="(?s)no column.*cifar10_valid.*NATS-tss-v1_0-3ffb9-simple"):
        check_table(TableConfig(dataset="cifar10", metric="valid"), "nb201-table")


def test_analog_table_is_listed_as_embedded(tmp_path):
    status = AnalogBenchmark().status(TableStore(tmp_path))
    assert status.installed and status.where.endswith("data.anb")


@pytest.fixture
def served_archive(sources, tmp_path):
    """The tiny -simple directory as a tar, served over HTTP on localhost (no network needed)."""
    import functools
    import hashlib
    import http.server
    import tarfile
    import threading

    archive = tmp_path / "served" / "NATS-tss-v1_0-3ffb9-simple.tar"
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tar:
        tar.add(sources["nats-simple"], arcname="NATS-tss-v1_0-3ffb9-simple")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archive.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/{archive.name}", hashlib.sha256(archive.read_bytes()).hexdigest()
    server.shutdown()


def test_fetch_downloads_checks_and_imports(served_archive, tmp_path, monkeypatch):
    url, sha = served_archive
    monkeypatch.setenv("AUTOML_NAS_NB201_URL", url)
    store = TableStore(tmp_path / "store")
    monkeypatch.setenv("AUTOML_NAS_NB201_SHA256", "0" * 64)
    with pytest.raises(DataError, match=f"has SHA-256 {sha}, expected 0000"):
        Nb201Benchmark().fetch(store)
    assert store.manifest("nb201") is None and [p.name for p in store.root.iterdir()] == []  # nothing left behind
    monkeypatch.setenv("AUTOML_NAS_NB201_SHA256", sha)
    manifest = Nb201Benchmark().fetch(store)
    assert (manifest.source, manifest.source_kind, manifest.rows) == ("NATS-tss-v1_0-3ffb9-simple", "nats-simple", COUNT)
    assert store.read("nb201", ["cifar10_valid"])["cifar10_valid"][2] == pytest.approx(syn.expected_row(2)["cifar10_valid"])
    assert [p.name for p in store.root.iterdir()] == ["nb201"]  # the archive and its unpacked copy are gone


def test_fetch_on_a_full_disk_says_how_much_room_it_needs_and_leaves_nothing(served_archive, tmp_path, monkeypatch):
    import errno
    import tarfile

    url, sha = served_archive
    monkeypatch.setenv("AUTOML_NAS_NB201_URL", url)
    monkeypatch.setenv("AUTOML_NAS_NB201_SHA256", sha)
    store = TableStore(tmp_path / "store")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tarfile.TarFile, "extractall", disk_full)  # the archive is down, unpacking fills the disk
    with pytest.raises(DataError, match=r"cannot write the unpacked NATS-tss-v1_0-3ffb9-simple.tar into .*store "
                                        r"\(No space left on device\)") as caught:
        Nb201Benchmark().fetch(store)
    assert "needs about 2.3 GB free there" in caught.value.hint and "AUTOML_NAS_HOME" in caught.value.hint
    assert [p.name for p in store.root.iterdir()] == []  # the archive is not left filling the disk
    monkeypatch.undo()
    monkeypatch.setenv("AUTOML_NAS_NB201_URL", url)
    monkeypatch.setenv("AUTOML_NAS_NB201_SHA256", sha)
    from automl_nas_eval_tabular import fetch as fetch_module

    monkeypatch.setattr(fetch_module, "_download", disk_full)  # the download itself fills it
    with pytest.raises(DataError, match=r"cannot write NATS-tss-v1_0-3ffb9-simple.tar into .*No space left"):
        Nb201Benchmark().fetch(store)


def test_single_file_imports_stream_without_torch(sources, tmp_path):
    """The .pth is read by the streaming reader, not torch.load (which builds the whole file)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path\nfrom automl_nas.benchstore import TableStore\n"
            "from automl_nas_eval_tabular.bench import Nb201Benchmark\n"
            f"m = Nb201Benchmark().import_from(Path({str(sources['nb201-pth-legacy'])!r}), TableStore({str(tmp_path)!r}))\n"
            "print(m.rows, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(COUNT), "False"]


@pytest.mark.parametrize("window", [7, 64, 1 << 18])
def test_pickle_stream_hands_entries_over_and_refuses_code(tmp_path, window, monkeypatch):
    import collections
    import io
    import pickle

    import numpy as np

    from automl_nas_eval_tabular import pickle_stream
    from automl_nas_eval_tabular.pickle_stream import StreamError, last_reads, stream_entries

    monkeypatch.setattr(pickle_stream, "WINDOW", window)  # small windows: slots are forgotten and re-read across them

    shared = "shared"  # one object referenced from every entry: read back through the memo
    entries = {i: {"name": shared, "od": collections.OrderedDict(a=i), "x": np.float64(i / 2), "s": {i},
                   "f": frozenset([i]), "b": b"\x00\xff", "t": (None, True, i)} for i in range(5)}
    entries.update({5: {"only": {7: "single-item dicts are filled by SETITEM, without MARK"}}, 6: [1, 2], 7: {}})
    for protocol in (2, 4, 5):
        data = pickle.dumps({"meta_archs": ["a"], "arch2infos": entries, "tail": shared}, protocol=protocol)
        seen: dict = {}
        top = stream_entries(io.BytesIO(data), "arch2infos", seen.__setitem__, last_reads(io.BytesIO(data)))
        assert seen == entries and top == {"meta_archs": ["a"], "arch2infos": {}, "tail": shared}

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo owned",))

    data = pickle.dumps({"arch2infos": {0: Evil()}})
    with pytest.raises(StreamError, match=r"global (posix|nt)\.system is not allowed"):
        stream_entries(io.BytesIO(data), "arch2infos", print, last_reads(io.BytesIO(data)))


def test_nats_bench_evaluator_preflight(tmp_path):
    from automl_nas_eval_tabular.config import NatsConfig

    with pytest.raises(RecipeError, match="no benchmark file given"):
        NatsConfig().preflight("nats-bench")
    with pytest.raises(DataError, match="(?s)nope.pbz2 does not exist.*automl bench import nb201"):
        NatsConfig(path=str(tmp_path / "nope.pbz2")).preflight("nats-bench")
    (tmp_path / "x.pickle.pbz2").write_bytes(b"")
    NatsConfig(path=str(tmp_path / "x.pickle.pbz2")).preflight("nats-bench")


@pytest.mark.parametrize("kind", ["nats-simple", "nb201-pth-legacy"])
def test_cli_bench_import_of_official_files(kind, sources, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path))
    out = CliRunner().invoke(main, ["bench", "import", "nb201", str(sources[kind])])
    assert out.exit_code == 0, out.output
    assert f"{COUNT} rows from {sources[kind].name} ({kind.removesuffix('-legacy')}), 36 columns" in out.stdout
    out = CliRunner().invoke(main, ["eval", syn.archs(COUNT)[1], "-e", "nb201-table", "-q", "--set", "dataset='cifar10'",
                                    "--set", "metric='valid'", "--work-dir", str(tmp_path / "eval")])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["metrics"] == {"cifar10_valid": pytest.approx(syn.expected_row(1)["cifar10_valid"])}


def test_a_short_csv_row_is_named_with_file_and_row(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    rows = ["arch,cifar10,cifar100", "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|,90.0,70.0",
            "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|,89.0"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    out = CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "t.csv")])
    assert out.exit_code == 4 and "row 3 has 2 fields but the header has 3" in out.output
    assert not (tmp_path / "home" / "benchmarks" / "nb201").exists()


def test_spreadsheet_csv_quirks_and_repeated_cells(tmp_path):
    """An Excel export's byte-order mark hid the 'arch' column; a ';'-separated export got the
    same message with no clue; a cell given twice was kept twice and looked up as whichever
    row came last."""
    store = TableStore(tmp_path / "store")
    a, b = syn.archs(2)
    (tmp_path / "bom.csv").write_text(f"arch,cifar10\n{a},90.5\n{b},80\n", encoding="utf-8-sig")
    assert Nb201Benchmark().import_from(tmp_path / "bom.csv", store).rows == 2
    (tmp_path / "semi.csv").write_text(f"arch;cifar10\n{a};90.5\n")
    with pytest.raises(DataError, match=r"seems to separate its fields with ';', not ','"):
        Nb201Benchmark().import_from(tmp_path / "semi.csv", store)
    (tmp_path / "again.csv").write_text(f"arch,cifar10,cifar100\n{a},90.5,\n{b},80,60\n{a},90.5,\n")
    assert Nb201Benchmark().import_from(tmp_path / "again.csv", store).rows == 2  # an exact repeat is kept once
    (tmp_path / "clash.csv").write_text(f"arch,cifar10\n{a},90.5\n{b},80\n{a},91\n")
    with pytest.raises(DataError, match=r"row 4 repeats the cell of row 2 .* with other values"):
        Nb201Benchmark().import_from(tmp_path / "clash.csv", store)
    assert store.read("nb201")["cifar10"] == [90.5, 80.0]  # the refused import left the last good one


@pytest.mark.parametrize("values, message", [
    (("150", "80"), r"row 2, column 'cifar10' is 150, outside 0-100"),
    (("90", "-5"), r"row 3, column 'cifar10' is -5, outside 0-100"),
    (("inf", "80"), r"row 2, column 'cifar10' is inf"),
    (("0.905", "0.8"), r"(?s)column 'cifar10' holds fractions.*multiply the column 'cifar10' by 100"),
])
def test_accuracies_outside_percent_are_refused_naming_row_and_column(tmp_path, values, message):
    """150, -5, inf and 0-1 fractions were imported without a word and then served as rewards."""
    store = TableStore(tmp_path / "store")
    a, b = syn.archs(2)
    (tmp_path / "t.csv").write_text(f"arch,cifar10\n{a},{values[0]}\n{b},{values[1]}\n")
    with pytest.raises(DataError, match=message):
        Nb201Benchmark().import_from(tmp_path / "t.csv", store)
    assert store.manifest("nb201") is None


def test_columns_that_are_not_accuracies_keep_any_finite_value(tmp_path):
    store = TableStore(tmp_path / "store")
    a, b = syn.archs(2)
    (tmp_path / "t.csv").write_text(f"arch,cifar10,cifar10_flops,cifar10_params\n{a},90,150.5,0.5\n{b},80,-1,0.1\n")
    assert Nb201Benchmark().import_from(tmp_path / "t.csv", store).rows == 2
    from automl_nas_eval_tabular.nb201_columns import is_accuracy
    assert [is_accuracy(c) for c in ("cifar10", "cifar100_valid", "ImageNet16-120_test_s777", "cifar10_valid_12ep",
                                     "cifar10_flops", "cifar10_test", "cifar10_valid_s1")] == [
        True, True, True, True, False, False, False]


def test_a_table_named_by_path_gets_the_checks_of_bench_import_before_the_run(tmp_path):
    """A table without 'arch' passed validate and the run's preflight (the search ran, then
    eval_error); a binary file was an internal UnicodeDecodeError; a malformed op was accepted."""
    from pathlib import Path

    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "snas.toml"
    a, b = syn.archs(2)
    (tmp_path / "noarch.csv").write_text(f"genotype,cifar10\n{a},90\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(128, 256)) * 20)
    bad_op = a.replace("none", "nor_conv_9x9", 1) if "none" in a else "|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    (tmp_path / "badop.csv").write_text(f"arch,cifar10\n{b},90\n{bad_op},80\n")
    (tmp_path / "percent.csv").write_text(f"arch,cifar10\n{a},0.9\n{b},0.8\n")

    def invoke(command, name, *extra):
        override = f'evaluator={{name="nb201-table", path="{tmp_path / name}"}}'
        return CliRunner().invoke(main, [command, str(recipe), "-p", "quick", "--set", override, *extra])

    for name, message in [("noarch.csv", "has columns ['genotype', 'cifar10'] but no 'arch' column"),
                          ("binary.csv", "is not a UTF-8 CSV text file")]:
        out = invoke("validate", name)
        assert out.exit_code == 4 and message in out.output, out.output
    for name, message in [("badop.csv", "row 3 is malformed (bad entry 'nor_conv_9x9"),
                          ("percent.csv", "column 'cifar10' holds fractions")]:
        run_dir = tmp_path / f"run-{name}"
        out = invoke("run", name, "-q", "--run-dir", str(run_dir))
        assert out.exit_code == 4 and message in out.output, out.output
        assert not run_dir.exists()  # refused before the search, not recorded as its eval_error


def test_gzip_index_and_text_columns(tmp_path):
    """A .csv.gz was an 'unknown benchmark file type' (and not UTF-8 for the evaluator); pandas'
    unnamed index column became a metric named ''; a text column failed with Python's message."""
    import gzip

    store = TableStore(tmp_path / "store")
    a, b = syn.archs(2)
    with gzip.open(tmp_path / "t.csv.gz", "wt") as fh:
        fh.write(f"arch,cifar10\n{a},90.5\n{b},80\n")
    assert Nb201Benchmark().import_from(tmp_path / "t.csv.gz", store).rows == 2
    assert Nb201Table(TableConfig(path=str(tmp_path / "t.csv.gz"))).evaluate(Genotype("nb201", a))["cifar10"] == 90.5
    (tmp_path / "idx.csv").write_text(f",arch,cifar10\n0,{a},90.5\n1,{b},80\n")
    manifest = Nb201Benchmark().import_from(tmp_path / "idx.csv", store)
    assert manifest.columns == ("cifar10",) and any("unnamed column" in n for n in manifest.notes)
    (tmp_path / "text.csv").write_text(f"arch,cifar10,who\n{a},90.5,me\n")
    with pytest.raises(DataError, match=r"row 2, column 'who' is 'me', not a number") as info:
        Nb201Benchmark().import_from(tmp_path / "text.csv", store)
    assert "drop the column 'who'" in info.value.hint


def test_a_smaller_table_over_a_bigger_one_says_so_and_the_old_one_can_be_put_back(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    cells = syn.archs(3)
    (tmp_path / "whole.csv").write_text("arch,cifar10\n" + "".join(f"{c},{90 - i}\n" for i, c in enumerate(cells)))
    (tmp_path / "part.csv").write_text(f"arch,cifar10\n{cells[0]},50\n")
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "whole.csv"), "-q"]).exit_code == 0
    part = CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "part.csv"), "-q"])
    previous = tmp_path / "home" / "benchmarks" / ".nb201.previous" / "table.parquet"
    assert part.exit_code == 0 and (f"the table this import replaced had 3 rows, this one has 1; the old one is kept: "
                                    f"`automl bench import nb201 {previous}` puts it back") in " ".join(part.output.split())
    partial = TableStore(tmp_path / "home" / "benchmarks").manifest("nb201")
    back = CliRunner().invoke(main, ["bench", "import", "nb201", str(previous), "-q"])
    assert back.exit_code == 0 and "warning" not in back.output
    store = TableStore(tmp_path / "home" / "benchmarks")
    assert store.read("nb201")["cifar10"] == [90.0, 89.0, 88.0]
    # where the table came from is the put-back generation's (it said "from table.parquet (parquet)")
    restored = store.manifest("nb201")
    assert (restored.source, restored.source_kind) == ("whole.csv", "csv") and partial.source == "part.csv"
    assert restored.source_sha256 == file_sha256(tmp_path / "whole.csv")
    listed = CliRunner().invoke(main, ["bench", "list"])
    assert "from whole.csv (csv)" in listed.output and "table.parquet" not in listed.output, listed.output
    copied = tmp_path / "copy" / "table.parquet"  # a parquet of other contents keeps its own provenance
    copied.parent.mkdir()
    copied.write_bytes(previous.read_bytes())  # the partial table now, with no manifest beside it
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(copied), "-q"]).exit_code == 0
    assert store.manifest("nb201").source == "table.parquet"


def _whole_and_less(tmp_path: Path) -> list[str]:
    """``whole.csv`` (cifar10, cifar100) and ``less.csv`` (cifar100 alone) of three cells; the cells."""
    cells = syn.archs(3)
    (tmp_path / "whole.csv").write_text("arch,cifar10,cifar100\n" + "".join(f"{c},{90 - i},{70 - i}\n"
                                                                          for i, c in enumerate(cells)))
    (tmp_path / "less.csv").write_text("arch,cifar100\n" + "".join(f"{c},{70 - i}\n" for i, c in enumerate(cells)))
    return cells


def test_a_table_without_a_column_the_old_one_had_says_so(tmp_path, monkeypatch):
    """A re-export that dropped cifar10 replaced the table in silence; the next search failed on it."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    _whole_and_less(tmp_path)
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "whole.csv"), "-q"]).exit_code == 0
    less = CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "less.csv"), "-q"])
    previous = tmp_path / "home" / "benchmarks" / ".nb201.previous" / "table.parquet"
    assert less.exit_code == 0 and (f"the table this import replaced had the column(s) cifar10, which this one lacks; "
                                    f"the old one is kept: `automl bench import nb201 {previous}` puts it back") \
        in " ".join(less.output.split()), less.output


def test_the_lost_column_warning_compares_with_the_table_the_import_really_replaced(tmp_path, monkeypatch):
    """The installed table was read before the import, outside its lock: another import that
    installed a whole table meanwhile was replaced in silence (the stale one had the same columns)."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    cells = _whole_and_less(tmp_path)
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "less.csv"), "-q"]).exit_code == 0
    real, done = TableStore._replace, []

    def another_import_first(store, tmp, final):  # a second `bench import` of the whole table finishes first
        if not done:
            done.append(1)
            TableStore(store.root).write("nb201", cells, {"cifar10": [1.0] * 3, "cifar100": [2.0] * 3},
                                         source="whole.csv", source_kind="csv")
        return real(store, tmp, final)

    monkeypatch.setattr(TableStore, "_replace", another_import_first)
    less = CliRunner().invoke(main, ["bench", "import", "nb201", str(tmp_path / "less.csv"), "-q"])
    assert less.exit_code == 0 and "had the column(s) cifar10, which this one lacks" in " ".join(less.output.split()), \
        less.output


def test_sigterm_stops_an_import_with_the_installed_table_kept_and_no_copy_left(tmp_path):
    """SIGTERM killed an import with no word and left its half-written copy in the store."""
    import signal
    import subprocess
    import sys
    import textwrap

    home = tmp_path / "home"
    cells = syn.archs(3)
    (tmp_path / "first.csv").write_text("arch,cifar10\n" + "".join(f"{c},{90 - i}\n" for i, c in enumerate(cells)))
    (tmp_path / "second.csv").write_text("arch,cifar10\n" + "".join(f"{c},{10 + i}\n" for i, c in enumerate(cells)))
    script = textwrap.dedent(f"""
        import os, signal
        import pyarrow.parquet as pq
        from automl_nas.cli import main
        real = pq.write_table
        def terminated_while_writing(*args, **kwargs):  # the copy is half made when SIGTERM comes
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)
        pq.write_table = terminated_while_writing
        main(["bench", "import", "nb201", {str(tmp_path / "second.csv")!r}, "-q"])
    """)
    env = {**os.environ, "AUTOML_NAS_HOME": str(home)}
    assert subprocess.run([sys.executable, "-m", "automl_nas.cli", "bench", "import", "nb201", str(tmp_path / "first.csv"),
                           "-q"], env=env, capture_output=True).returncode == 0
    stopped = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 130 and "import of benchmark table 'nb201' stopped; the table installed before" \
        in " ".join(stopped.stderr.split()), stopped.stderr
    assert -stopped.returncode != signal.SIGTERM
    store = home / "benchmarks"
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == ["nb201"]  # no half-written copy beside it
    assert TableStore(store).read("nb201")["cifar10"] == [90.0, 89.0, 88.0]


@pytest.mark.parametrize("when", ["swap", "report"])
def test_sigterm_late_in_an_import_loses_no_table_and_says_which_is_installed(tmp_path, when):
    """Between the swap and keeping the replaced table, a stop lost that table (the cleanup removed
    the folder it was in) and said it was kept; after the swap, the stop said the old table was
    still installed (and SIGTERM there killed the command with no word)."""
    import subprocess
    import sys
    import textwrap

    home = tmp_path / "home"
    cells = syn.archs(3)
    (tmp_path / "first.csv").write_text("arch,cifar10\n" + "".join(f"{c},{90 - i}\n" for i, c in enumerate(cells)))
    (tmp_path / "second.csv").write_text("arch,cifar10\n" + "".join(f"{c},{10 + i}\n" for i, c in enumerate(cells[:2])))
    inject = {
        "swap": """
            from automl_nas.benchstore import _store
            class _Os:
                def __getattr__(self, key):
                    return getattr(os, key)
                def replace(self, a, b):
                    if str(b).endswith(".nb201.previous"):
                        os.kill(os.getpid(), signal.SIGTERM)
                    return os.replace(a, b)
            _store.os = _Os()""",
        "report": """
            from automl_nas.commands import bench
            real = bench._report
            def report(*args, **kwargs):
                os.kill(os.getpid(), signal.SIGTERM)
                return real(*args, **kwargs)
            bench._report = report"""}[when]
    script = "import os, signal\n" + textwrap.dedent(inject) + textwrap.dedent(f"""
        from automl_nas.cli import main
        main(["bench", "import", "nb201", {str(tmp_path / "second.csv")!r}, "-q"])
    """)
    env = {**os.environ, "AUTOML_NAS_HOME": str(home)}
    assert subprocess.run([sys.executable, "-m", "automl_nas.cli", "bench", "import", "nb201", str(tmp_path / "first.csv"),
                           "-q"], env=env, capture_output=True).returncode == 0
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    store = home / "benchmarks"
    assert TableStore(store).read("nb201")["cifar10"] == [10.0, 11.0]  # the new table is installed
    previous = TableStore(store).previous("nb201")
    assert TableStore(previous.parent).read(previous.name)["cifar10"] == [90.0, 89.0, 88.0]  # the old one kept
    said = " ".join(done.stderr.split())
    if when == "swap":  # held for those few renames: the import ends as it would have
        assert done.returncode == 0 and "the table this import replaced had 3 rows" in said, done.stderr
    else:
        assert done.returncode == 130 and "stopped after the new table was installed; the one it replaced is kept " \
            f"in {previous}" in said and f"automl bench import nb201 {previous / 'table.parquet'}" in said, done.stderr


def test_a_read_is_done_again_when_an_import_swaps_the_table_meanwhile(tmp_path):
    store, other = TableStore(tmp_path), TableStore(tmp_path)
    store.write("nb201", ["a"], {"acc": [1.0]}, source="first.csv", source_kind="csv")
    calls = []

    def read():
        manifest = store._manifest_once("nb201")
        calls.append(manifest.source)
        if len(calls) == 1:  # an import lands between this read's manifest and its table
            other.write("nb201", ["a", "b"], {"acc": [2.0, 3.0]}, source="second.csv", source_kind="csv")
        return manifest, store.read("nb201")

    manifest, table = store.consistent("nb201", read)
    assert calls == ["first.csv", "second.csv"] and manifest.rows == len(table["arch"]) == 2
