"""NAS-Bench-Graph table: safe reading, exact keys for every architecture of the space, metrics."""

from __future__ import annotations

import pickle

import pytest

from automl_nas.api import EvalContext, Genotype
from automl_nas.errors import DataError
from automl_nas.testing.contracts import EvaluatorContract
from automl_nas_eval_nasbench_graph.config import DATASETS, NbgConfig
from automl_nas_eval_nasbench_graph.evaluator import NasBenchGraph
from automl_nas_eval_nasbench_graph.table import bench_dir, load_table, read_table
from automl_nas_space_gnn.config import GnnConfig
from automl_nas_space_gnn.space import GnnSpace


class TestTableContract(EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        return NasBenchGraph(NbgConfig(dataset="cora"))

    @pytest.fixture
    def genotype(self):
        return GnnSpace().parse("link=[0,1,2,3] ops=[gcn,gat,skip,fc]")

    @pytest.fixture
    def eval_context(self):
        return EvalContext(space=GnnSpace())


def test_every_dataset_table_reads_safely():
    for dataset in DATASETS:
        table = load_table("", dataset)
        assert len(table) == (2021 if dataset == "proteins" else 26_206), dataset
        entry = next(iter(table.values()))
        assert set(entry) == {"valid_perf", "perf", "latency", "para"} and all(type(v) is float for v in entry.values())


@pytest.mark.parametrize("ops,dataset", [("all", "cora"), ("proteins", "proteins")])
def test_every_architecture_of_the_space_has_a_row(ops, dataset):
    space = GnnSpace(GnnConfig(ops=ops))
    table = NasBenchGraph(NbgConfig(dataset=dataset))
    keys = {space.benchmark_hash(g) for g in space.enumerate()}
    assert keys - set(table.table) == {88888}  # only the four-skip sentinel is missing
    assert set(table.table) <= keys  # and every row is reachable from the space


def test_known_rows_and_units():
    table = NasBenchGraph(NbgConfig(dataset="cora"))
    # hash 0 is link [0,0,0,0] with four gat layers: the first row of cora.bench
    m = table.evaluate(Genotype("gnn", "link=[0,0,0,0] ops=[gat,gat,gat,gat]"))
    assert m["valid_perf"] == pytest.approx(77.3333333) and m["test_perf"] == pytest.approx(79.7)
    assert m["latency"] == pytest.approx(0.005922238) and m["params"] == pytest.approx(1_736_711) and m["in_table"] == 1.0
    # isomorphic architectures read the same row
    a = table.evaluate(Genotype("gnn", "link=[0,0,1,2] ops=[gcn,gat,sage,fc]"))
    b = table.evaluate(Genotype("gnn", "link=[0,0,1,2] ops=[gat,gcn,fc,sage]"))
    assert a == b
    assert 80 < table.optimum() < 84


def test_four_skips_score_zero_and_other_spaces_are_refused():
    table = NasBenchGraph()
    assert table.evaluate(Genotype("gnn", "link=[0,1,2,3] ops=[skip,skip,skip,skip]"))["in_table"] == 0.0
    with pytest.raises(Exception, match="'gnn' space"):
        table.evaluate(Genotype("nb201", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))


def test_proteins_table_names_the_ops_it_lacks():
    with pytest.raises(DataError, match="covers only the ops gcn, sage, arma, fc, skip; .* uses gat") as err:
        NasBenchGraph(NbgConfig(dataset="proteins")).evaluate(Genotype("gnn", "link=[0,1,2,3] ops=[gat,gcn,gcn,gcn]"))
    assert 'ops = "proteins"' in err.value.hint


def test_a_hostile_table_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Hostile:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "cora.bench"
    evil.write_bytes(pickle.dumps({0: {"valid_perf": Hostile()}}))
    with pytest.raises(DataError, match=r"cora\.bench: not a readable NAS-Bench-Graph table .*io.open is not allowed|builtins.open is not allowed"):
        read_table(evil)
    assert not marker.exists()
    truncated = tmp_path / "short.bench"
    truncated.write_bytes((bench_dir() / "cora.bench").read_bytes()[:1000])
    with pytest.raises(DataError, match="short.bench: not a readable"):
        read_table(truncated)
    with pytest.raises(DataError, match="table not found"):
        read_table(tmp_path / "none.bench")


@pytest.mark.parametrize("proposer", ["random", "rea", "reinforce", "tpe"])
def test_shipped_proposers_search_the_table(proposer):
    from automl_nas.session import open_session
    from automl_nas.study.blackbox import run_blackbox

    registry = open_session().registry
    space = registry.create("search_space", "gnn")
    table = NasBenchGraph(NbgConfig(dataset="cora"))
    out = run_blackbox(space, registry.create("proposer", proposer), table, EvalContext(space=space), 30,
                       metric="valid_perf", seed=1)
    assert out["queries"] == 30 and out["curve"] == sorted(out["curve"])
    best = table.evaluate(space.parse(out["best_genotype"]))
    assert best["valid_perf"] == out["best_value"] > 75.0  # most of the table is above 70 %


def test_rea_beats_its_own_start_on_validation():
    # 20 seeds x 100 queries: REA's pick is better than the best of its first 10 (random) queries
    from automl_nas.session import open_session
    from automl_nas.study.blackbox import run_blackbox

    registry = open_session().registry
    space = registry.create("search_space", "gnn")
    table = NasBenchGraph(NbgConfig(dataset="cora"))
    gains = []
    for seed in range(20):
        out = run_blackbox(space, registry.create("proposer", "rea"), table, EvalContext(space=space), 100,
                           metric="valid_perf", seed=seed)
        gains.append(out["curve"][-1] - out["curve"][9])
    assert sum(g > 0 for g in gains) >= 15


def test_the_table_is_listed_by_the_benchmark_store(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from automl_nas.cli import main

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path))
    out = CliRunner().invoke(main, ["bench", "list"])
    assert out.exit_code == 0
    line = next(ln for ln in out.output.splitlines() if ln.startswith("nas-bench-graph"))
    assert "installed" in line and "not installed" not in line and "cora" in out.output
    refused = CliRunner().invoke(main, ["bench", "import", "nas-bench-graph", str(tmp_path)])
    assert refused.exit_code == 4 and "nothing to import" in refused.output


def test_a_missing_table_or_a_space_wider_than_the_table_is_refused_before_the_search(tmp_path):
    """Both were found after the whole search (the run's eval_error), or at a black-box search's
    first query; ``validate`` said ok."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    automl = str(Path(sys.executable).parent / "automl")
    recipes = Path(__file__).resolve().parents[3] / "recipes"
    env = {"AUTOML_NAS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    wide = r"evaluator: the ogbn-proteins table covers only the ops gcn, sage, arma, fc, skip, and the space searches " \
           r"all nine \(space.ops = 'all'\); set \[space\] ops = \"proteins\""
    missing = r"evaluator: nas-bench-graph: NAS-Bench-Graph table 'cora': /nowhere/cora\.bench does not exist"
    cases = [("validate", "gnn-darts.toml", 'evaluator.dataset="proteins"', 2, wide),
             ("validate", "gnn-rea.toml", 'evaluator.dataset="proteins"', 2, wide),
             ("validate", "gnn-darts.toml", 'evaluator.path="/nowhere"', 4, missing),
             ("search", "gnn-rea.toml", 'evaluator.dataset="proteins"', 2, wide),
             ("run", "gnn-darts.toml", 'evaluator.path="/nowhere"', 4, missing)]
    for command, recipe, override, code, message in cases:
        profile = ["-p", "quick"] if recipe == "gnn-rea.toml" else []  # gnn-darts' quick profile retrains instead
        proc = subprocess.run([automl, command, str(recipes / recipe), *profile, "--set", override], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, (command, recipe, override, proc.stderr)
        assert re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "runs").exists()  # refused before any run directory
    ok = subprocess.run([automl, "validate", str(recipes / "gnn-rea.toml"), "-p", "quick", "--set",
                         'evaluator.dataset="proteins"', "--set", 'space.ops="proteins"'], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_a_run_resumed_with_the_proteins_table_on_all_nine_ops_is_not_stranded(tmp_path):
    """The plan-time refusal is for new runs: a run recorded before it existed could not be resumed
    (--resume refuses --set) where it had finished with an eval_error before."""
    from pathlib import Path

    from automl_nas.errors import RecipeError
    from automl_nas.session import open_session

    recipe = tmp_path / "recipe.toml"
    recipe.write_text((Path(__file__).resolve().parents[3] / "recipes" / "gnn-darts.toml").read_text()
                      .replace('dataset = "cora"\n\n# ---', 'dataset = "proteins"\n\n# ---', 1))
    session = open_session()
    with pytest.raises(RecipeError, match="the ogbn-proteins table covers only the ops"):
        session.plan(recipe)
    assert session.plan(recipe, resuming=True).evaluator.config.dataset == "proteins"
