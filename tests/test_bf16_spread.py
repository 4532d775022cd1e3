"""benchmarks/bf16_spread.py: fp32's seed-to-seed spread and where bf16 falls in it (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automl_nas.testing import script_fixture

REPO = Path(__file__).resolve().parents[1]


bf16_spread = script_fixture(REPO / "benchmarks" / "bf16_spread.py")


def test_the_rule_is_mean_within_one_fp32_std(bf16_spread):
    s = bf16_spread.spread("cifar10", [93.0, 94.0, 95.0], [94.5, 95.5])  # fp32 94 +- 1; bf16 mean 95
    assert (s.fp32_mean, s.fp32_std, s.bf16_mean, s.delta) == pytest.approx((94.0, 1.0, 95.0, 1.0))
    assert s.inside and s.bf16_in_fp32_range == 1  # 95.5 is above fp32's max
    assert (s.fp32_median, s.bf16_median) == (94.0, 95.0)
    collapsed = bf16_spread.spread("cifar10", [91.0, 92.0, 93.0], [93.0, 93.5, 10.0])  # one disconnected cell
    assert not collapsed.inside and collapsed.bf16_median == 93.0
    out = bf16_spread.spread("cifar10", [93.0, 94.0, 95.0], [95.0, 95.5])  # bf16 mean 95.25: 1.25 std away
    assert not out.inside and out.bf16_in_fp32_range == 1
    with pytest.raises(ValueError, match="needs >= 2 seeds"):
        bf16_spread.spread("cifar10", [93.0], [94.0, 95.0])


def test_seeds_below_two_and_missing_data_are_refused(bf16_spread, capsys):
    with pytest.raises(SystemExit):
        bf16_spread.parse_args(["--quick", "--seeds", "1"])
    assert "--seeds must be >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bf16_spread.parse_args([])
    assert "--data FILE.npz is needed" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_interleaves_real_fp32_and_bf16_searches(bf16_spread, tmp_path, monkeypatch, capsys):
    from automl_nas.session import Session

    precisions = []
    execute = Session.execute

    def spy(self, plan, **kw):  # what each search really ran with: the planned recipe
        precisions.append((plan.recipe.seed, plan.recipe.run.bf16, plan.recipe.search.epochs))
        return execute(self, plan, **kw)

    monkeypatch.setattr(Session, "execute", spy)
    out = tmp_path / "spread.json"
    assert bf16_spread.main(["--quick", "--seeds", "2", "--epochs", "1", "--json", str(out), "--set", "search.steps_per_epoch=3",
                             "--set", "search.valid_batches=2"]) == 0
    assert precisions == [(0, False, 1), (0, True, 1), (1, False, 1), (1, True, 1)]
    report = json.loads(out.read_text())
    scores = {(o["seed"], o["bf16"]): o["score"] for o in report["outcomes"]}
    assert len(scores) == 4 and all(50 < v < 100 for v in scores.values())  # analog-nasbench accuracies
    (score, valid) = report["spreads"]
    assert score["quantity"] == "cifar10_analog" and valid["quantity"] == "valid_acc"
    assert score["fp32"] == [scores[(0, False)], scores[(1, False)]] and score["bf16"] == [scores[(0, True)], scores[(1, True)]]
    assert "fp32's spread" in capsys.readouterr().out
