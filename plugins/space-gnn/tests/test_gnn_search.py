"""One-shot search on the GNN space: the shipped samplers run unmodified on a generated graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas import hookimpl
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

    registry = open_session().registry
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "gnn-darts.toml"
    plan = plan_recipe(recipe, registry, profile="quick")
    assert plan.recipe.data.name == "sbm" and plan.recipe.space.name == "gnn"
    plan = plan_recipe(recipe, registry)
    assert plan.recipe.data.name == "pyg"


class _StopAtEpochOne:
    """Raises after epoch 1's checkpoint, like a crash between epochs."""

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics):
        if epoch == 1:
            raise RuntimeError("power cut")


def test_a_resumed_graph_search_ends_like_an_uninterrupted_one(tmp_path):
    from automl_nas.errors import PluginError
    from automl_nas.session import resume_run, run_recipe_file

    recipe = tmp_path / "gnn.toml"
    recipe.write_text(RECIPE.format(sampler="gdas", epochs=4, nodes=120).replace("checkpoint_every = 0", "checkpoint_every = 1"))
    full = run_recipe_file(recipe, quiet=True, run_dir=tmp_path / "full", overrides=[f"run.root='{tmp_path}'"])
    with pytest.raises(PluginError, match="power cut"):
        run_recipe_file(recipe, quiet=True, run_dir=tmp_path / "cut", overrides=[f"run.root='{tmp_path}'"],
                        extra_plugins=[(_StopAtEpochOne(), "stop")])
    resumed = resume_run(tmp_path / "cut", quiet=True)
    assert resumed["genotype"] == full["genotype"]
    assert resumed["last_epoch"]["train_loss"] == full["last_epoch"]["train_loss"]
    assert resumed["last_epoch"]["valid_acc"] == full["last_epoch"]["valid_acc"]
