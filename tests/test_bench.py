"""``automl bench``: the store's commands, and tables contributed by a third-party plugin."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from automl_nas.cli import main
from tests.conftest import SHARED

CSV = SHARED / "benchmarks" / "nb201-test-accuracy.csv"


def _list(runner: CliRunner) -> dict:
    out = runner.invoke(main, ["bench", "list", "--json"])
    assert out.exit_code == 0, out.output
    return {row["name"]: row for row in json.loads(out.stdout)["tables"]}


def test_hook_automl_register_benchmarks(tmp_path, empty_automl_home):
    """A table registered by the outside plugin is listed, imported and stored like ours."""
    runner = CliRunner()
    rows = _list(runner)
    assert {"nb201", "analog-nasbench", "toy-table"} <= set(rows)
    assert not rows["toy-table"]["installed"] and rows["toy-table"]["how"] == "automl bench import toy-table PATH"
    (tmp_path / "scores.csv").write_text("genotype,score\ntoy:a,1.5\ntoy:b,2.5\n")
    out = runner.invoke(main, ["bench", "import", "toy-table", str(tmp_path / "scores.csv"), "-q"])
    assert out.exit_code == 0, out.output
    row = _list(runner)["toy-table"]
    assert row["installed"] and row["where"] == str(empty_automl_home / "benchmarks" / "toy-table")
    assert "2 rows from scores.csv (toy-csv)" in row["detail"]
    wrong = runner.invoke(main, ["bench", "import", "toy-table", str(tmp_path), "-q"])  # the plugin's own refusal
    assert wrong.exit_code == 4 and f"{tmp_path} is a directory, not a CSV file" in wrong.output


def test_bench_list_and_import_nb201(empty_automl_home):
    runner = CliRunner()
    rows = _list(runner)
    assert not rows["nb201"]["installed"]
    assert "automl bench import nb201 PATH" in rows["nb201"]["how"] and "automl bench fetch nb201" in rows["nb201"]["how"]
    assert rows["analog-nasbench"]["installed"]  # embedded in its package
    started = time.perf_counter()
    out = runner.invoke(main, ["bench", "import", "nb201", str(CSV)])
    assert out.exit_code == 0, out.output
    assert time.perf_counter() - started < 30  # generous: it takes ~1 s; a regression to minutes would show
    assert f"nb201: installed in {empty_automl_home / 'benchmarks' / 'nb201'}" in out.stdout
    assert "15625 rows from nb201-test-accuracy.csv (csv), 3 columns" in out.stdout
    manifest = json.loads((empty_automl_home / "benchmarks" / "nb201" / "manifest.json").read_text())
    assert manifest["columns"] == ["cifar10", "cifar100", "ImageNet16-120"] and manifest["format_version"] == 1
    assert "no validation accuracies" in _list(runner)["nb201"]["detail"]


def test_bench_refusals():
    runner = CliRunner()
    out = runner.invoke(main, ["bench", "import", "nb210", str(CSV)])
    assert out.exit_code == 2 and "unknown benchmark 'nb210'; did you mean 'nb201'?" in out.stderr
    out = runner.invoke(main, ["bench", "import", "nb201", str(SHARED / "data" / "cifar10-5k.npz")])
    assert out.exit_code == 4 and "unknown benchmark file type" in out.stderr and "Traceback" not in out.output


def test_bench_fetch_offline_fails_at_once_naming_the_manual_route(monkeypatch):
    monkeypatch.setenv("AUTOML_NAS_NB201_URL", "https://127.0.0.1:9/NATS-tss-v1_0-3ffb9-simple.tar")
    started = time.perf_counter()
    out = CliRunner().invoke(main, ["bench", "fetch", "nb201"])
    assert time.perf_counter() - started < 10
    assert out.exit_code == 4, out.output
    assert "cannot reach 127.0.0.1" in out.stderr and "automl bench import nb201" in out.stderr


def test_an_import_that_fills_the_disk_is_a_data_error_that_keeps_the_installed_table(empty_automl_home, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["bench", "import", "nb201", str(CSV), "-q"]).exit_code == 0
    store = empty_automl_home / "benchmarks"
    before = (store / "nb201" / "table.parquet").read_bytes()
    import pyarrow.parquet as pq

    def disk_full(table, where, **kw):  # as pyarrow fails on a full disk: an OSError, half a file written
        open(where, "wb").write(b"PAR1")
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq, "write_table", disk_full)
    out = runner.invoke(main, ["bench", "import", "nb201", str(CSV), "-q"])
    assert out.exit_code == 4 and "Traceback" not in out.output and "internal error" not in out.output
    assert (f"benchmark table 'nb201': cannot write it into {store} ({os.strerror(errno.ENOSPC)}) "
            "(the table installed before is kept)") in out.stderr
    assert "set AUTOML_NAS_HOME to a directory with room" in out.stderr
    assert (store / "nb201" / "table.parquet").read_bytes() == before
    assert sorted(p.name for p in store.iterdir()) == ["nb201"]  # no half-written copy left beside it


def test_a_damaged_installed_table_is_found_before_a_search_not_in_its_final_evaluation(empty_automl_home):
    from automl_nas.benchstore import TableStore

    runner = CliRunner()
    assert runner.invoke(main, ["bench", "import", "nb201", str(CSV)]).exit_code == 0
    table = TableStore().table_path("nb201")
    table.write_bytes(table.read_bytes()[:1000])  # a copy cut short
    row = _list(runner)["nb201"]
    assert not row["installed"] and "is damaged or cut short (not a whole Parquet file)" in row["detail"]
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"
    checked = runner.invoke(main, ["validate", str(recipe)])
    assert checked.exit_code == 4 and f"{table} is damaged or cut short" in checked.output
    assert "automl bench import nb201 PATH" in checked.output


def test_a_plugin_table_that_cannot_be_imported_is_listed_as_unavailable_and_the_others_still_are(
        empty_automl_home, monkeypatch):
    """One plugin table whose module was missing ended `automl bench list` with a plugin error alone."""
    from automl_nas import Component, hookimpl
    from automl_nas.session import open_session

    class Broken:
        @hookimpl
        def automl_register_benchmarks(self):
            return [Component(kind="benchmark", name="broken-table", impl="no_such_module_here:Table")]

    monkeypatch.setattr("automl_nas.session.open_session", lambda: open_session([(Broken(), "broken")]))
    rows = _list(CliRunner())
    assert rows["analog-nasbench"]["installed"] and not rows["nb201"]["installed"]
    broken = rows["broken-table"]
    assert not broken["installed"] and broken["detail"].startswith("unavailable: benchmark 'broken-table'")
    assert "no_such_module_here" in broken["detail"]
    text = CliRunner().invoke(main, ["bench", "list"])
    assert text.exit_code == 0 and "fix: reinstall the plugin's distribution" in text.output


def test_a_plugin_table_whose_import_raises_is_a_plugin_error_naming_it(empty_automl_home, monkeypatch, tmp_path):
    from automl_nas import Component, hookimpl
    from automl_nas.session import open_session

    class Hooks:
        @hookimpl
        def automl_register_benchmarks(self):
            return [Component(kind="benchmark", name="raising-table", impl="tests.test_bench:RaisingTable")]

    monkeypatch.setattr("automl_nas.session.open_session", lambda: open_session([(Hooks(), "raiser")]))
    (tmp_path / "x.csv").write_text("a,b\n")
    out = CliRunner().invoke(main, ["bench", "import", "raising-table", str(tmp_path / "x.csv"), "-q"])
    assert out.exit_code == 3, out.output
    assert "benchmark table 'raising-table' from plugin 'raiser'" in out.output and "KeyError: 'missing'" in out.output


class RaisingTable:
    name, summary = "raising-table", ""

    def import_from(self, source, store, progress=None):
        raise KeyError("missing")


def test_a_manifest_of_another_format_or_with_stale_columns_is_refused(empty_automl_home):
    """format_version 99 was read as ours; columns that disagreed with the Parquet file gave an
    evaluation with `"metrics": {}`."""
    runner = CliRunner()
    assert runner.invoke(main, ["bench", "import", "nb201", str(CSV), "-q"]).exit_code == 0
    manifest_file = empty_automl_home / "benchmarks" / "nb201" / "manifest.json"
    good = manifest_file.read_text()
    manifest = json.loads(good)
    manifest_file.write_text(json.dumps({**manifest, "format_version": 99}))
    row = _list(runner)["nb201"]
    assert not row["installed"] and "stored in format 99; this automl-nas reads format 1" in row["detail"]
    manifest_file.write_text(json.dumps({**manifest, "columns": ["foo"]}))
    out = runner.invoke(main, ["eval", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                                       "nor_conv_3x3~2|", "-e", "nb201-table", "-q"])
    assert out.exit_code == 4 and "manifest lists the columns ['foo']" in out.output, out.output
    manifest_file.write_text(good)
    assert _list(runner)["nb201"]["installed"]


def _write_often(root: str, value: float, times: int) -> list[str]:
    from automl_nas.benchstore import TableStore

    failed = []
    # tables of other sizes and columns: a reader taking the manifest of one and the file of the next
    # reported a damaged table, or columns that do not match
    rows = 2 if value == 1.0 else 300
    columns = {"acc": [value] * rows, **({"other": [3.0] * rows} if value == 2.0 else {})}
    for _ in range(times):
        try:
            TableStore(Path(root)).write("nb201", [f"a{i}" for i in range(rows)], columns, source="x", source_kind="csv")
        except Exception as exc:  # noqa: BLE001 - counted, not raised: the test reads them all
            failed.append(f"{type(exc).__name__}: {exc}")
    return failed


def _read_often(root: str, seconds: float) -> list[str]:
    from automl_nas.benchstore import TableStore

    failed, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            store = TableStore(Path(root))
            if store.manifest("nb201") is None or store.read("nb201")["acc"][0] not in (1.0, 2.0):
                failed.append("no table, or another one")
        except Exception as exc:  # noqa: BLE001
            failed.append(f"{type(exc).__name__}: {exc}")
    return failed


def test_imports_at_once_and_a_reader_meanwhile_see_a_whole_table_each_time(tmp_path):
    """Two writers renamed into each other's folder ("Directory not empty", said as a disk problem)
    and left .nb201.old-PID copies; a reader between the two renames found no table installed."""
    from concurrent.futures import ProcessPoolExecutor

    from automl_nas.benchstore import TableStore

    TableStore(tmp_path).write("nb201", ["a", "b"], {"acc": [1.0, 1.0]}, source="x", source_kind="csv")
    with ProcessPoolExecutor(3) as pool:
        writers = [pool.submit(_write_often, str(tmp_path), v, 40) for v in (1.0, 2.0)]
        reader = pool.submit(_read_often, str(tmp_path), 3.0)
        assert [w.result() for w in writers] == [[], []] and reader.result() == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [".nb201.previous", "nb201"]
