"""Black-box proposers on the NAS-Bench-201 table: validity, determinism, REA > random, REINFORCE maths."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from automl_nas.api.evaluator import EvalContext
from automl_nas.session import open_session
from automl_nas.study.blackbox import run_blackbox

CSV = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "nb201-test-accuracy.csv"  # ../shared beside the clone
NAMES = ("random", "rea", "reinforce", "tpe")


@pytest.fixture(scope="module")
def bench():
    if not CSV.exists():
        pytest.fail(f"{CSV} is missing (shared benchmark table)")
    from automl_nas_eval_tabular.config import TableConfig

    registry = open_session().registry
    space = registry.create("search_space", "nb201")
    table = registry.create("evaluator", "nb201-table", TableConfig(path=str(CSV), metrics=("cifar10",)))
    return registry, space, table, EvalContext(space=space)


def search(bench, name, seed, queries=100):
    registry, space, table, ctx = bench
    return run_blackbox(space, registry.create("proposer", name), table, ctx, queries, metric="cifar10", seed=seed)


@pytest.mark.parametrize("name", NAMES)
def test_proposals_are_valid_genotypes_and_deterministic(bench, name):
    _, space, _, _ = bench
    a, b = search(bench, name, seed=3, queries=30), search(bench, name, seed=3, queries=30)
    assert [h["genotype"] for h in a["history"]] == [h["genotype"] for h in b["history"]]
    for h in a["history"]:
        assert space.parse(h["genotype"]).text == h["genotype"]
    assert a["curve"] == sorted(a["curve"]) and a["best_value"] == max(h["value"] for h in a["history"])
    c = search(bench, name, seed=4, queries=30)
    assert [h["genotype"] for h in c["history"]] != [h["genotype"] for h in a["history"]]


def test_rea_beats_random_on_average_with_100_queries(bench):
    seeds = range(8)
    rea = statistics.fmean(search(bench, "rea", s)["best_value"] for s in seeds)
    rs = statistics.fmean(search(bench, "random", s)["best_value"] for s in seeds)
    assert rea > rs


def test_rea_mutation_changes_one_edge_picking_nodes_uniformly(bench):
    from automl_nas_blackbox.encoding import Encoding

    _, space, _, _ = bench
    enc = Encoding.of(space)
    assert enc.choices == (5,) * 6 and enc.nodes == ((0,), (1, 2), (3, 4, 5))
    rng, parent, hits = random.Random(0), (0, 1, 2, 3, 4, 0), [0] * 6
    for _ in range(9000):
        child = enc.mutate(parent, rng)
        diff = [i for i in range(6) if child[i] != parent[i]]
        assert len(diff) == 1
        hits[diff[0]] += 1
    # NB201 R_EA.py: node uniformly (1/3), then one of its inputs: 1/3, 1/6, 1/6, 1/9, 1/9, 1/9.
    for got, p in zip(hits, (1 / 3, 1 / 6, 1 / 6, 1 / 9, 1 / 9, 1 / 9)):
        assert got / 9000 == pytest.approx(p, abs=0.02)


def test_rea_population_ages_out_the_oldest(bench):
    from automl_nas_blackbox.config import ReaConfig
    from automl_nas_blackbox.rea import RegularizedEvolution

    _, space, _, _ = bench
    rea = RegularizedEvolution(ReaConfig(population=3, sample=2))
    rea.setup(space, 0)
    told = [rea.ask() for _ in range(4)]
    for i, g in enumerate(told):
        rea.tell(g, float(i))
    assert [v for _, v in rea.population] == [1.0, 2.0, 3.0]


def test_reinforce_baseline_and_update_follow_nb201(bench):
    import torch

    from automl_nas_blackbox.reinforce import Reinforce

    _, space, _, _ = bench
    rl = Reinforce()
    rl.setup(space, 0)
    g = rl.ask()
    before = rl.logits.detach().clone()
    rl.tell(g, 90.0)  # bias-corrected EMA: the first baseline equals the first reward -> zero advantage
    assert rl.baseline() == pytest.approx(90.0)
    assert torch.equal(rl.logits.detach(), before)
    rl.tell(g, 100.0)  # (0.9*9 + 0.1*100) / (0.9*0.1 + 0.1) = 18.1 / 0.19
    assert rl.baseline() == pytest.approx(18.1 / 0.19)
    ops = torch.tensor(space.to_ops(g))
    moved = (rl.logits.detach() - before).gather(1, ops.view(-1, 1))
    assert bool((moved > 0).all())  # positive advantage raises the chosen ops' logits
    # Adam's second step after a zero-gradient first one: lr * (0.1/0.19) / sqrt(0.001/0.001999).
    assert float(moved.max()) == pytest.approx(0.01 * (0.1 / 0.19) / (0.001 / 0.001999) ** 0.5, rel=1e-3)


def test_reinforce_learns_nothing_from_an_infinite_reward(bench):
    """NASWOT scores a cell whose units never differ -inf: the moving baseline became -inf for good,
    every later advantage inf or NaN, and the policy NaN."""
    import math

    import torch

    from automl_nas_blackbox.reinforce import Reinforce

    _, space, _, _ = bench
    rl = Reinforce()
    rl.setup(space, 0)
    g = rl.ask()
    before = rl.logits.detach().clone()
    rl.tell(g, -math.inf)
    assert torch.equal(rl.logits.detach(), before) and (rl._num, rl._den) == (0.0, 0.0)  # as if never told
    rl.tell(g, 90.0)
    rl.tell(rl.ask(), 100.0)
    assert math.isfinite(rl.baseline()) and bool(torch.isfinite(rl.logits).all())


def test_automl_search_cli_writes_history_and_result(tmp_path):
    import json

    from click.testing import CliRunner

    from automl_nas.study.cli import blackbox

    recipe = tmp_path / "bb.toml"
    recipe.write_text(f'name = "bb"\nseed = 2\n[space]\nname = "nb201"\n[evaluator]\nname = "nb201-table"\npath = "{CSV}"\n'
                      f'[blackbox]\nproposer = "rea"\nqueries = 20\nmetric = "cifar10"\n[run]\nroot = "{tmp_path}"\n')
    res = CliRunner().invoke(blackbox, [str(recipe), "-q"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["queries"] == 20
    history = (Path(out["run_dir"]) / "history.jsonl").read_text().splitlines()
    assert len(history) == 20 and json.loads(history[-1])["best"] == out["best_value"]
    bad = CliRunner().invoke(blackbox, [str(recipe), "-q", "--set", 'blackbox.proposer="reaa"'])
    assert bad.exit_code == 2 and "did you mean 'rea'" in bad.output
