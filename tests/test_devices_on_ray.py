"""A trial's device follows what the executor reserved for it (issue 14)."""

from __future__ import annotations

import pytest

from automl_nas.errors import RecipeError
from automl_nas.execution.trials import trial_device


def _recipe(tmp_path, make_toy_recipe, *sets: str):
    from automl_nas.recipe import load_recipe

    return load_recipe(make_toy_recipe(), overrides=list(sets))


@pytest.mark.parametrize(("device", "gpus", "expected"), [
    ("auto", 0, ["run.device=cpu"]),      # Ray hides no GPU from a task that reserved none
    ("auto", 0.25, ["run.device=cuda"]),  # a quarter of a GPU: CUDA_VISIBLE_DEVICES shows the shared one
    ("auto", 1, ["run.device=cuda"]),
    ("cpu", 1, []),
    ("cuda", 2, []),
])
def test_auto_device_on_ray_means_the_reserved_device(tmp_path, make_toy_recipe, device, gpus, expected):
    recipe = _recipe(tmp_path, make_toy_recipe, f'run.device="{device}"', f"executor.gpus={gpus}")
    assert trial_device(recipe, "ray") == expected


def test_locally_auto_keeps_its_meaning(tmp_path, make_toy_recipe):
    recipe = _recipe(tmp_path, make_toy_recipe, 'run.device="auto"')
    assert trial_device(recipe, "local") == []


def test_cuda_without_a_gpu_reservation_is_refused(tmp_path, make_toy_recipe):
    recipe = _recipe(tmp_path, make_toy_recipe, 'run.device="cuda:1"')
    with pytest.raises(RecipeError, match=r"run.device = 'cuda:1' but executor.gpus = 0"):
        trial_device(recipe, "ray")


def test_a_gpu_index_is_refused_on_ray_where_each_trial_sees_only_its_reserved_gpu(tmp_path, make_toy_recipe):
    recipe = _recipe(tmp_path, make_toy_recipe, 'run.device="cuda:1"', "executor.gpus=1")
    with pytest.raises(RecipeError, match=r"'cuda:1' names a GPU of this machine, but on Ray each trial runs on the "
                                          r"GPU Ray reserved for it, which it sees as cuda:0"):
        trial_device(recipe, "ray")
    assert trial_device(recipe, "local") == []  # locally the index means what it says
