"""The search loop's update order, the single-level step and the weight step's clip norm (issue 18).

Tiny NB201 supernets on 8x8 digits; each test drives the engine's own steps.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import torch

from automl_nas.testing import build_search, engine_steps_state

REPO = Path(__file__).resolve().parents[1]
TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "space.channels=4", "space.cells_per_stage=1",
        "run.device='cpu'", "run.threads=1", "search.steps_per_epoch=2", "search.epochs=2", "search.valid_batches=1"]


def _search(tmp_path, recipe: str, *extra: str, name: str = "s"):
    return build_search(REPO / "recipes" / recipe, root=tmp_path, name=name, overrides=[*TINY, *extra])


def _record_steps(search) -> list[str]:
    calls: list[str] = []
    for step in ("arch_step", "weight_step", "single_step"):
        original = getattr(search, step)

        def wrapper(*args, _original=original, _step=step):
            calls.append(_step)
            return _original(*args)

        setattr(search, step, wrapper)
    return calls


class _Guard:
    def check_step(self, *args) -> None:
        pass


class _Hooks:
    def call(self, *args, **kwargs) -> None:
        pass


def _loop_steps(search) -> list[str]:
    """The steps the engine's loop takes in its first epoch (2 iterations)."""
    calls = _record_steps(search)
    search.recipe = attrs.evolve(search.recipe, search=attrs.evolve(search.recipe.search, epochs=1))
    search.run_epochs(_Guard(), _Hooks())
    return calls


@pytest.mark.parametrize("order, expected", [
    ("arch_first", ["arch_step", "weight_step"] * 2),
    ("weights_first", ["weight_step", "arch_step"] * 2),
])
def test_loop_and_engine_steps_state_follow_the_recipe_order(tmp_path, order, expected):
    loop = _loop_steps(_search(tmp_path, "darts-nb201.toml", f"search.order='{order}'", name="loop"))
    assert loop == expected
    helper = _search(tmp_path, "darts-nb201.toml", f"search.order='{order}'", name="helper")
    calls = _record_steps(helper)
    engine_steps_state(helper, iterations=2)
    assert calls == expected  # the helper takes the loop's steps, in the loop's order


def test_the_two_orders_give_different_states(tmp_path):
    """The order is not cosmetic: from one initialisation the two orders end in different weights."""
    states = {}
    for order in ("arch_first", "weights_first"):
        torch.manual_seed(0)
        states[order] = engine_steps_state(_search(tmp_path, "darts-nb201.toml", f"search.order='{order}'", name=order))
    assert any(not torch.equal(states["arch_first"][k], states["weights_first"][k]) for k in states["arch_first"])


def test_single_level_loop_takes_only_joint_steps(tmp_path):
    loop = _loop_steps(_search(tmp_path, "snas.toml", "search.mode='single_level'", name="loop"))
    assert loop == ["single_step", "single_step"]
    helper = _search(tmp_path, "snas.toml", "search.mode='single_level'", name="helper")
    calls = _record_steps(helper)
    engine_steps_state(helper, iterations=2)
    assert calls == ["single_step", "single_step"]


SGD_PLAIN = ["search.weights_optimizer={lr=0.05, lr_min=0.0, momentum=0.0, weight_decay=0.0, grad_clip=0.0}",
             "search.arch_optimizer={name='sgd', lr=0.1, momentum=0.0, weight_decay=0.0}"]


@pytest.mark.parametrize("update_arch", [True, False])
def test_single_step_is_one_backward_of_one_loss(tmp_path, update_arch):
    """single_step: both optimisers step on the gradient of the same loss on the same batch
    (the arch one only when ``update_arch``)."""
    search = _search(tmp_path, "snas.toml", "search.mode='single_level'", *SGD_PLAIN)
    run = search.run
    x, y = next(search.train_loader.cycle(0))
    weights = [p for p in run.supernet.parameters() if p.requires_grad]
    params = list(run.params.values())
    w0, a0 = [p.detach().clone() for p in weights], [p.detach().clone() for p in params]
    torch.manual_seed(3)
    loss, _, _ = search.loss("single", x, y)
    grads = torch.autograd.grad(loss, weights + params, allow_unused=True)
    torch.manual_seed(3)  # the same Gumbel noise in the step
    search.single_step(x, y, update_arch)
    for p, before, g in zip(weights, w0, grads[:len(weights)]):
        expected = before - 0.05 * (g if g is not None else torch.zeros_like(before))
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6)
    for p, before, g in zip(params, a0, grads[len(weights):]):
        expected = before - 0.1 * g if update_arch else before
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(weights, w0))


@pytest.mark.parametrize("with_arch", [False, True])
def test_weight_step_clip_norm_with_and_without_the_arch_gradient(tmp_path, with_arch):
    """grad_clip scales the weight gradient by clip / ||g||, where g is the weight gradient alone
    (default) or, with clip_arch_grad, the weights' and the alphas' gradients of the weight loss
    (AutoDL, DrNAS on NB201); the alphas themselves are never stepped by the weight step."""
    clip = 1e-3  # far below the gradient norm: the clip is active
    search = _search(tmp_path, "darts-nb201.toml",
                     f"search.weights_optimizer={{lr=0.05, lr_min=0.0, momentum=0.0, weight_decay=0.0, grad_clip={clip}, "
                     f"clip_arch_grad={str(with_arch).lower()}}}")
    run = search.run
    x, y = next(search.train_loader.cycle(0))
    weights = [p for p in run.supernet.parameters() if p.requires_grad]
    params = list(run.params.values())
    w0, a0 = [p.detach().clone() for p in weights], [p.detach().clone() for p in params]
    loss, _, _ = search.loss("weights", x, y)
    grads = torch.autograd.grad(loss, weights + params, allow_unused=True)
    gw = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads[:len(weights)], weights)]
    ga = list(grads[len(weights):])
    norm_w = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gw]))
    norm_all = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gw + ga]))
    assert norm_all > norm_w * (1 + 1e-6)  # the alphas' gradient is not zero here, so the choice matters
    scale = clip / ((norm_all if with_arch else norm_w) + 1e-6)
    search.weight_step(x, y)
    for p, before, g in zip(weights, w0, gw):
        torch.testing.assert_close(p.detach(), before - 0.05 * scale * g, rtol=1e-5, atol=1e-9)
    for p, before in zip(params, a0):
        assert torch.equal(p.detach(), before) and p.grad is None
