"""Black-box search selects by validation, reports test, and spends a simulated time budget
(issue 13; NAS-Bench-201 §5), on a store table whose validation and test rankings disagree."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from automl_nas.benchstore import TableStore
from automl_nas.cli import main
from automl_nas_eval_tabular.synthetic import archs

RECIPE = """name = "bb"
seed = 3
[space]
name = "nb201"
[evaluator]
name = "nb201-table"
[blackbox]
proposer = {{ name = "{proposer}" }}
queries = 0
seconds = 1000
metric = "cifar10_valid_12ep"
report = "cifar10"
cost = "cifar10_time_12ep"
[run]
root = "{root}"
"""


@pytest.fixture
def disagreeing_store(empty_automl_home):
    cells = archs(15_625)
    score = [float((i * 7919) % 15625) for i in range(len(cells))]
    TableStore().write("nb201", cells, {"cifar10": [100.0 - s / 1000 for s in score],  # test: the reverse order
                                        "cifar10_valid_12ep": [s / 1000 for s in score],
                                        "cifar10_time_12ep": [100.0 + (i % 2) * 50 for i in range(len(cells))]},
                       source="synthetic", source_kind="test")
    return dict(zip(cells, score))


@pytest.mark.parametrize("proposer", ["random", "rea"])
def test_search_selects_by_validation_and_reports_test(proposer, disagreeing_store, tmp_path):
    recipe = tmp_path / "bb.toml"
    recipe.write_text(RECIPE.format(proposer=proposer, root=tmp_path / "runs"))
    out = CliRunner().invoke(main, ["search", str(recipe), "-q"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    history = [json.loads(line) for line in (tmp_path / "runs").glob("*/history.jsonl").__next__().read_text().splitlines()]
    best = max(history, key=lambda h: h["value"])
    assert summary["best_genotype"] == best["genotype"] and summary["metric"] == "cifar10_valid_12ep"
    assert summary["best_report"] == pytest.approx(100.0 - disagreeing_store[best["genotype"]] / 1000)
    assert summary["best_report"] < max(h["report"] for h in history)  # not the (optimistic) best test value
    # simulated budget: queries cost 100 or 150 s; the search stops at the first query that reaches 1000 s
    spent = [h["sim_time_s"] for h in history]
    assert spent[-1] >= 1000 and spent[-2] < 1000 and summary["simulated_seconds"] == spent[-1]
    assert 7 <= summary["queries"] <= 10


def test_validation_selection_on_a_test_only_table_is_refused(installed_nb201, tmp_path):
    recipe = tmp_path / "bb.toml"
    recipe.write_text(RECIPE.format(proposer="random", root=tmp_path / "runs"))
    out = CliRunner().invoke(main, ["search", str(recipe), "-q"])
    assert out.exit_code == 2, out.output
    assert "no column(s) ['cifar10_valid_12ep', 'cifar10_time_12ep']" in out.stderr
    assert "NATS-tss-v1_0-3ffb9-simple" in out.stderr and not (tmp_path / "runs").exists()


def test_a_nan_score_stops_the_search_with_the_cell_and_keeps_the_finished_queries(blank_cell_search, tmp_path):
    """A table import keeps an empty field as nan. Told to the proposer and the loop, nan compared
    false both ways, became the best at once and stayed it: 60 queries ended with best nan.
    (On Ray: tests/test_execution.py.)"""
    blank, search = blank_cell_search
    out = search()
    assert out.exit_code == 4 and "gave cifar10 = nan for |" in out.output and "search --resume" in out.output
    assert out.output.split("nan for ")[1].split(",")[0] in blank
    history = [json.loads(line) for line in (tmp_path / "s" / "history.jsonl").read_text().splitlines()]
    assert history and all(h["value"] == h["value"] for h in history)  # every kept query is a number
    assert all(h["genotype"] not in blank for h in history)


def test_a_proposer_with_nothing_left_ends_the_search_finished_with_its_queries_and_their_origins():
    """A proposer that ran out raised a recipe error: no result.json, a resume that failed the same
    way, and `automl eval` that asked to finish the search first. Its proposals' origins (a network
    morphism's parent and edits) were kept in memory only."""
    from automl_nas.api import Proposer, SpaceExhausted
    from automl_nas.study.blackbox import run_blackbox
    from automl_nas_space_nb201.space import Nb201Space

    space = Nb201Space()
    cells = [space.from_ops(ops) for ops in [(0,) * 6, (2,) * 6, (3,) * 6]]

    class Three(Proposer):
        name = "three"

        def setup(self, space, seed):
            self.left = list(cells)

        def ask(self):
            if not self.left:
                raise SpaceExhausted("all three cells asked")
            return self.left.pop(0)

        def tell(self, genotype, value):
            pass

        def origin(self, genotype):
            return None if genotype == cells[0] else {"parent": cells[0].text, "morphisms": ["grow"]}

    class Score:
        name, metrics, higher_is_better = "score", ("score",), True

        def evaluate(self, genotype, ctx):
            return {"score": float(sum(space.to_ops(genotype)))}

    queries = []
    out = run_blackbox(space, Three(), Score(), None, budget_queries=10, on_query=queries.append)
    assert out["queries"] == 3 and out["exhausted"] is True and out["exhausted_reason"] == "all three cells asked"
    assert out["best_genotype"] == cells[2].text and out["best_value"] == 18.0
    assert "parent" not in queries[0] and queries[2]["parent"] == cells[0].text and queries[2]["morphisms"] == ["grow"]
    within = run_blackbox(space, Three(), Score(), None, budget_queries=2)
    assert within["queries"] == 2 and "exhausted" not in within  # the budget ended it first


def test_a_plugin_s_wrong_return_or_bug_in_a_search_is_its_plugin_error(tmp_path):
    """ask() returning a str, evaluate() returning None, or a bug inside either was an internal error
    (exit 1) naming no plugin; in `automl run` an evaluator's None marked a finished search failed."""
    import re

    from automl_nas.api import EvalContext, Proposer
    from automl_nas.errors import PluginError
    from automl_nas.evaluation import score
    from automl_nas.registry import Component
    from automl_nas.study.blackbox import BlackboxPlan, ContractBreach, _plugin_fault, run_blackbox
    from automl_nas_space_nb201.space import Nb201Space

    space = Nb201Space()
    cell = space.from_ops((2,) * 6)

    class Says(Proposer):
        name = "says"

        def __init__(self, answer):
            self.answer = answer

        def setup(self, space, seed):
            pass

        def ask(self):
            return self.answer

        def tell(self, genotype, value):
            pass

    class Returns:
        name, metrics, higher_is_better = "returns", ("score",), True

        def __init__(self, value):
            self.value = value

        def evaluate(self, genotype, ctx):
            return self.value

    proposer = Component(kind="proposer", name="says", impl="outside_says:Says", plugin="outside", dist="outside 1.0")
    evaluator = Component(kind="evaluator", name="returns", impl="outside_returns:Returns", plugin="outside-eval",
                          dist="outside-eval 2.0")
    plan = BlackboxPlan(raw={}, config=None, space=space, evaluator=None, proposer=None, run=None, executor=None,
                        components=(evaluator, proposer))
    for answer, value, kind, said in [("|none~0|", {"score": 1.0}, "proposer", "ask() returned str, not a Genotype"),
                                      (cell, None, "evaluator", "evaluate() returned NoneType, not a dict of metrics")]:
        with pytest.raises(ContractBreach) as breach:
            run_blackbox(space, Says(answer), Returns(value), None, budget_queries=2)
        error = _plugin_fault(breach.value, plan, tmp_path)
        assert isinstance(error, PluginError) and error.exit_code == 3 and said in error.message
        owner = proposer if kind == "proposer" else evaluator
        assert error.message.startswith(f"{kind} {owner.name!r} from plugin {owner.plugin!r} ({owner.dist})")
    # A data error raised on purpose keeps its own fix (a table without the cell), not "fix the plugin"
    from automl_nas.errors import DataError

    assert _plugin_fault(DataError("nb201-table: not in partial.csv", hint="use a whole table"), plan, tmp_path) is None
    # A breach comes back from a Ray worker whole (the default pickling lost kind and hint: "Ray lost a worker")
    import pickle

    back = pickle.loads(pickle.dumps(ContractBreach("evaluator", "evaluate() returned list", hint="return a dict")))
    assert (back.kind, str(back), back.hint) == ("evaluator", "evaluate() returned list", "return a dict")
    # A metric the evaluator declares and leaves out is its own breach, not the recipe's
    with pytest.raises(ContractBreach, match=r"evaluate\(\) returned no 'score', which it declares in metrics"):
        run_blackbox(space, Says(cell), Returns({"other": 1.0}), None, budget_queries=1)
    ctx = EvalContext(space=space)
    for value, said in [(None, "evaluate() returned NoneType, not a dict of metrics"),
                        ({"other": 1.0}, "evaluate() returned no 'score', which it declares in metrics")]:
        with pytest.raises(PluginError, match=rf"evaluator 'returns' from plugin 'outside-eval' \(outside-eval 2.0\) "
                                              rf"failed on .*: TypeError: {re.escape(said)}"):
            score(evaluator, Returns(value), cell, ctx)


def test_an_origin_that_would_overwrite_the_record_s_own_keys_is_refused():
    """A proposer's origin() with a key such as "value" overwrote the query's score in history.jsonl,
    which show and a resume read back."""
    from automl_nas.api import Proposer
    from automl_nas.study.blackbox import ContractBreach, run_blackbox
    from automl_nas_space_nb201.space import Nb201Space

    space = Nb201Space()

    class Overwrites(Proposer):
        name = "overwrites"

        def setup(self, space, seed):
            pass

        def ask(self):
            return space.from_ops((1,) * 6)

        def tell(self, genotype, value):
            pass

        def origin(self, genotype):
            return {"value": 0.0, "parent": "x"}

    class One:
        name, metrics, higher_is_better = "one", ("score",), True

        def evaluate(self, genotype, ctx):
            return {"score": 1.0}

    with pytest.raises(ContractBreach, match=r"origin\(\) returned the key\(s\) 'value', which the query's record uses"):
        run_blackbox(space, Overwrites(), One(), None, budget_queries=1)
