"""nb201-table on the shared CSV and on small generated tables; the NB201 string helpers."""

from __future__ import annotations

import itertools
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from automl_nas.api import Genotype
from automl_nas.errors import DataError, RecipeError
from automl_nas_eval_tabular.config import TableConfig
from automl_nas_eval_tabular.nb201_text import format_ops, parse_ops
from automl_nas_eval_tabular.synthetic import archs
from automl_nas_eval_tabular.table import Nb201Table

CSV = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "nb201-test-accuracy.csv"  # ../shared beside the clone
DRNAS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_format_and_parse():
    assert format_ops([3, 3, 3, 1, 3, 3]) == DRNAS
    assert format_ops([1] * 6) == ALL_SKIP
    assert parse_ops(DRNAS) == (3, 3, 3, 1, 3, 3)
    for ops in itertools.islice(itertools.product(range(5), repeat=6), 0, None, 97):
        assert parse_ops(format_ops(ops)) == ops
    for bad in ("|nor_conv_3x3~0|", DRNAS.replace("~2|", "~1|"), DRNAS.replace("nor_conv_3x3~0|+", "conv~0|+", 1)):
        with pytest.raises(ValueError):
            parse_ops(bad)


def test_shared_csv_lookup_spec_10_1_invariant_4():
    ev = Nb201Table(TableConfig(path=str(CSV)))
    assert ev.metrics == ("cifar10", "cifar100", "ImageNet16-120")
    assert ev.evaluate(Genotype("nb201", DRNAS)) == pytest.approx(
        {"cifar10": 94.3633, "cifar100": 73.5133, "ImageNet16-120": 46.3444}, abs=1e-9)
    assert ev.evaluate(Genotype("nb201", ALL_SKIP)) == pytest.approx(
        {"cifar10": 54.2967, "cifar100": 15.6067, "ImageNet16-120": 16.3222}, abs=1e-9)
    sub = Nb201Table(TableConfig(path=str(CSV), metrics=["cifar100"]))
    assert sub.metrics == ("cifar100",)
    assert sub.evaluate(Genotype("nb201", DRNAS)) == {"cifar100": pytest.approx(73.5133)}


def test_csv_covers_all_cells():
    from automl_nas_eval_tabular.table import load_table

    _, table = load_table(CSV)
    assert set(table) == {format_ops(ops) for ops in itertools.product(range(5), repeat=6)}


def test_errors(tmp_path):
    with pytest.raises(DataError, match="(?s)not installed in .*automl bench import nb201 PATH"):
        Nb201Table(TableConfig()).evaluate(Genotype("nb201", DRNAS))
    (tmp_path / "t.csv").write_text(f"arch,acc\n{ALL_SKIP},50.5\n")
    ev = Nb201Table(TableConfig(path=str(tmp_path / "t.csv")))
    assert ev.evaluate(Genotype("nb201", ALL_SKIP)) == {"acc": 50.5}
    with pytest.raises(DataError, match="is not in"):
        ev.evaluate(Genotype("nb201", DRNAS))
    with pytest.raises(DataError, match="cannot be looked up"):
        ev.evaluate(Genotype("darts", "Genotype(normal=[])"))
    with pytest.raises(DataError, match="bad entry 'conv~0' for edge 1<-0"):
        ev.evaluate(Genotype("nb201", "|conv~0|+|a~0|b~1|+|c~0|d~1|e~2|"))
    with pytest.raises(RecipeError, match="no column"):
        Nb201Table(TableConfig(path=str(tmp_path / "t.csv"), metrics=["cifar10"])).evaluate(Genotype("nb201", ALL_SKIP))
    with pytest.raises(DataError, match="does not exist"):
        Nb201Table(TableConfig(path=str(tmp_path / "none.csv"))).evaluate(Genotype("nb201", ALL_SKIP))


def test_a_table_file_repeating_a_cell_with_other_values_is_refused_naming_both_rows(tmp_path):
    (tmp_path / "t.csv").write_text(f"arch,acc\n{ALL_SKIP},50.5\n{DRNAS},94.0\n{ALL_SKIP},51.0\n")
    with pytest.raises(DataError, match=r"row 4 repeats the cell of row 2 \(\|skip_connect~0\|.*\) with other values"):
        Nb201Table(TableConfig(path=str(tmp_path / "t.csv"))).evaluate(Genotype("nb201", DRNAS))
    # An exact repeat (two exports concatenated) answers as one row, as `automl bench import` keeps it.
    (tmp_path / "same.csv").write_text(f"arch,acc\n{ALL_SKIP},50.5\n{DRNAS},nan\n{ALL_SKIP},50.5\n{DRNAS},nan\n")
    assert Nb201Table(TableConfig(path=str(tmp_path / "same.csv"))).evaluate(Genotype("nb201", ALL_SKIP)) == {"acc": 50.5}


@pytest.mark.parametrize("header", ["arch,acc,acc", "arch,acc, acc"])
def test_a_table_file_naming_a_column_twice_is_refused_not_read_with_other_rows_values(tmp_path, header):
    """Both columns went into one list, and the lookup answered a cell with another row's value."""
    (tmp_path / "t.csv").write_text(f"{header}\n{ALL_SKIP},50.5,51.0\n{DRNAS},94.0,94.5\n")
    with pytest.raises(DataError, match=r"the header names 'acc' more than once \(arch, acc, acc\)"):
        Nb201Table(TableConfig(path=str(tmp_path / "t.csv"))).evaluate(Genotype("nb201", DRNAS))


def test_parquet(tmp_path):
    import pyarrow as pa  # the plugin's [test] extra installs it
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"arch": [DRNAS], "x": [1.25]}), tmp_path / "t.parquet")
    assert Nb201Table(TableConfig(path=str(tmp_path / "t.parquet"))).evaluate(Genotype("nb201", DRNAS)) == {"x": 1.25}


def test_descriptors():
    assert {ep.name for ep in entry_points(group="automl_nas")} >= {"eval-tabular"}
    from automl_nas_eval_tabular import hooks

    assert {c.name for c in hooks.automl_register_evaluators()} == {"nb201-table", "nats-bench", "analog-nasbench"}
    assert "torch" not in vars(hooks)


def test_a_pickled_evaluator_carries_its_table_to_a_process_without_one(tmp_path, monkeypatch):
    import pickle
    import shutil

    from automl_nas.benchstore import TableStore

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "driver"))
    cells = archs(15_625)
    TableStore().write("nb201", cells, {"cifar10": [i / 100 for i in range(len(cells))]}, source="t", source_kind="test")
    shipped = pickle.dumps(Nb201Table(TableConfig(metrics=("cifar10",))))  # what Ray's object store holds
    # A worker on a node with no table installed (and the driver's file gone from this one):
    shutil.rmtree(tmp_path / "driver")
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "node"))
    worker = pickle.loads(shipped)
    assert worker.evaluate(Genotype(space="nb201", text=cells[1234])) == {"cifar10": 12.34}
    assert worker.metrics == ("cifar10",)
    with pytest.raises(DataError, match="is not installed"):  # a fresh evaluator there finds none
        Nb201Table(TableConfig(metrics=("cifar10",))).evaluate(Genotype(space="nb201", text=cells[0]))


def test_an_evaluator_answers_from_the_table_it_first_read_for_its_whole_life(tmp_path):
    """A table replaced mid-search (a colleague's `automl bench import`) answered the later queries
    from the new one: one search's history mixed two tables, and said nothing."""
    import os

    table = tmp_path / "t.csv"
    table.write_text(f"arch,acc\n{ALL_SKIP},50.5\n{DRNAS},94.0\n")
    ev = Nb201Table(TableConfig(path=str(table)))
    assert ev.evaluate(Genotype("nb201", ALL_SKIP)) == {"acc": 50.5}
    table.write_text(f"arch,acc\n{ALL_SKIP},10.25\n")
    os.utime(table, (1, 1))  # surely another modification time
    assert ev.evaluate(Genotype("nb201", DRNAS)) == {"acc": 94.0}
    assert Nb201Table(TableConfig(path=str(table))).evaluate(Genotype("nb201", ALL_SKIP)) == {"acc": 10.25}


def test_the_records_say_which_table_answered(tmp_path, monkeypatch):
    """Nothing said whether a search saw the table installed before or after a re-import."""
    import json

    from click.testing import CliRunner

    from automl_nas.benchstore import TableStore, file_sha256
    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    table = tmp_path / "t.csv"
    table.write_text(f"arch,cifar10\n{ALL_SKIP},50.5\n{DRNAS},94.0\n")
    out = tmp_path / "eval.json"
    given = CliRunner().invoke(main, ["eval", DRNAS, "-e", "nb201-table", "--set", f"path='{table}'", "--out", str(out)])
    assert given.exit_code == 0, given.output
    assert json.loads(out.read_text())["evaluator_source"] == {"path": str(table), "sha256": file_sha256(table)}
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(table), "-q"]).exit_code == 0
    installed = tmp_path / "installed.json"
    assert CliRunner().invoke(main, ["eval", DRNAS, "-e", "nb201-table", "--out", str(installed)]).exit_code == 0
    manifest = TableStore(tmp_path / "home" / "benchmarks").manifest("nb201")
    assert json.loads(installed.read_text())["evaluator_source"] == {
        "table": "nb201", "source": "t.csv", "source_sha256": file_sha256(table), "rows": 2,
        "created_at": manifest.created_at}


def test_a_search_s_env_json_says_which_table_answers_it(tmp_path):
    import json

    from click.testing import CliRunner

    from automl_nas.benchstore import file_sha256
    from automl_nas.cli import main

    table = tmp_path / "t.csv"
    table.write_text(f"arch,cifar10\n{ALL_SKIP},50.5\n{DRNAS},94.0\n")
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "snas.toml"
    ran = CliRunner().invoke(main, ["run", str(recipe), "-p", "quick", "-q", "--set", "search.epochs=1", "--set",
                                    f"evaluator={{name='nb201-table', path='{table}'}}", "--run-dir", str(tmp_path / "r")])
    assert ran.exit_code == 0, ran.output  # the found cell may be missing from this table: eval_error, not a failure
    env = json.loads((tmp_path / "r" / "env.json").read_text())
    assert env["evaluator_source"] == {"path": str(table), "sha256": file_sha256(table)}


class _StopAfterFirstEpoch:
    from automl_nas import hookimpl

    @hookimpl
    def automl_epoch_end(self, run, epoch):
        run.request_stop("test")


def test_a_resume_after_a_re_import_says_and_records_the_table_it_answers_from(tmp_path, monkeypatch):
    """The resumed run answered from the table installed since, while env.json named the first."""
    import json

    from click.testing import CliRunner

    from automl_nas import session
    from automl_nas.benchstore import file_sha256
    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text(f"arch,cifar10\n{ALL_SKIP},50.5\n{DRNAS},94.0\n")
    second.write_text(f"arch,cifar10\n{ALL_SKIP},10.5\n{DRNAS},11.0\n")
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(first), "-q"]).exit_code == 0
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "snas.toml"
    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(_StopAfterFirstEpoch(), "stopper")]))
    run_dir = tmp_path / "r"
    stopped = CliRunner().invoke(main, ["run", str(recipe), "-p", "quick", "-q", "--set", "search.epochs=2", "--set",
                                        "evaluator={name='nb201-table'}", "--run-dir", str(run_dir)])
    assert stopped.exit_code == 130, stopped.output
    monkeypatch.setattr(session, "open_session", real)
    assert CliRunner().invoke(main, ["bench", "import", "nb201", str(second), "-q"]).exit_code == 0
    resumed = CliRunner().invoke(main, ["run", "--resume", str(run_dir), "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert "the evaluator answers from another source than before this resume" in resumed.output
    env = json.loads((run_dir / "env.json").read_text())
    assert env["evaluator_source"]["source"] == "first.csv"
    assert [(r["epoch"], r["source"]["source_sha256"]) for r in env["evaluator_source_resumed"]] == [
        (1, file_sha256(second))]


def test_source_names_the_table_the_evaluator_read_not_one_imported_after(tmp_path, monkeypatch):
    from automl_nas.benchstore import TableStore

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    store = TableStore()
    store.write("nb201", [ALL_SKIP, DRNAS], {"cifar10": [50.5, 94.0]}, source="first.csv", source_kind="csv")
    ev = Nb201Table(TableConfig())
    assert ev.evaluate(Genotype("nb201", DRNAS)) == {"cifar10": 94.0}
    store.write("nb201", [ALL_SKIP, DRNAS], {"cifar10": [1.0, 2.0]}, source="second.csv", source_kind="csv")
    assert ev.evaluate(Genotype("nb201", DRNAS)) == {"cifar10": 94.0} and ev.source()["source"] == "first.csv"
