"""One-shot search on the GNN space: the shipped samplers run unmodified on a generated graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas.testing import run_recipe
from automl_nas_space_gnn.space import GnnSpace

RECIPE = """
name = "gnn-tiny"
seed = 0
[space]
name = "gnn"
hidden = 8
dropout = 0.0
[data]
name = "sbm"
nodes = {nodes}
split = "dataset"
[search]
epochs = {epochs}
sampler = {{ name = "{sampler}" }}
weights_optimizer = {{ lr = 0.2, lr_min = 0.001, momentum = 0.9, weight_decay = 5e-4, grad_clip = 5.0 }}
arch_optimizer = {{ name = "adam", lr = 3e-2, betas = [0.5, 0.999], weight_decay = 1e-3 }}
[run]
threads = 1
checkpoint_every = 0
"""


@pytest.mark.parametrize("sampler", ["darts", "snas", "gdas", "drnas"])
def test_shipped_samplers_search_the_gnn_space(tmp_path, sampler):
    out = run_recipe(tmp_path, RECIPE.format(sampler=sampler, epochs=3, nodes=120))
    assert out.result["status"] == "finished" and out.result["space"] == "gnn"
    assert len(out.metrics) == 3
    GnnSpace().parse(out.result["genotype"])  # a genotype of the space
    assert all(m["train_loss"] == m["train_loss"] for m in out.metrics)  # finite (NaN != NaN)


def test_the_supernet_learns_the_graph(tmp_path):
    out = run_recipe(tmp_path, RECIPE.format(sampler="darts", epochs=30, nodes=600))
    first, last = out.metrics[0]["valid_acc"], max(m["valid_acc"] for m in out.metrics[-5:])
    assert last > first + 25 and last > 60, (first, last)


def test_quick_profile_of_the_shipped_recipe_validates():
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    _, registry = open_session()
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "gnn-darts.toml"
    plan = plan_recipe(recipe, registry, profile="quick")
    assert plan.recipe.data.name == "sbm" and plan.recipe.space.name == "gnn"
    plan = plan_recipe(recipe, registry)
    assert plan.recipe.data.name == "pyg"
