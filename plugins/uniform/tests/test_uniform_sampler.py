"""The uniform single-path sampler: the kit's parameter-free case, and a real run through the engine."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from automl_nas.api import StructureChanging, ValidationObserver
from automl_nas.testing.contracts import SamplerContract

from automl_nas_uniform.config import UniformConfig
from automl_nas_uniform.sampler import UniformSampler


class TestUniformContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return UniformSampler(UniformConfig(candidates=2))


def test_declares_nothing_to_learn_and_opts_into_validation_feedback_only():
    s = UniformSampler()
    assert s.learnable is False
    assert isinstance(s, ValidationObserver) and not isinstance(s, StructureChanging)


def test_one_op_per_edge_uniformly():
    torch.manual_seed(0)
    s = UniformSampler()
    counts = Counter()
    for _ in range(2000):
        w = s.sample({"cell": torch.zeros(6, 5)}, phase="weights")["cell"]
        assert torch.equal(w.weights.argmax(-1), w.active) and torch.equal(w.weights.sum(-1), torch.ones(6))
        counts.update(w.active.tolist())
    # 12,000 draws over 5 ops: each within 5 sigma of 2,400
    assert all(abs(n - 2400) < 5 * (12000 * 0.2 * 0.8) ** 0.5 for n in counts.values()) and len(counts) == 5


def test_a_run_learns_nothing_and_derives_the_best_scored_path(tmp_path):
    from automl_nas.testing import run_recipe
    from tests.conftest import TOY_RECIPE

    recipe = TOY_RECIPE.format(data_extra="").replace('name = "toy-softmax"', 'name = "uniform"\ncandidates = 4')
    outcome = run_recipe(tmp_path, recipe, overrides=["search.epochs=3"])
    assert outcome.result["status"] == "finished" and len(outcome.metrics) == 3
    assert all(rec["arch_loss"] == 0.0 for rec in outcome.metrics)  # no architecture step was taken
    history = [json.loads(line) for line in (outcome.run_dir / "arch_history.jsonl").read_text().splitlines()]
    assert all(h["params"] == {"cell": [[0.0] * 4] * 3} for h in history)  # parameters never moved
    ckpt = torch.load(outcome.run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["arch_optimizer"] is None
    best = ckpt["sampler"]["best"]["cell"]
    ops = ("none", "skip_connect", "conv_3x3", "avg_pool_3x3")
    assert outcome.result["genotype"] == "toy:" + ",".join(ops[i] for i in best)
