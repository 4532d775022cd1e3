"""The DARTS space's memory option ``checkpointing`` (issue 8, point 3) and the fused path's saved activations.

Checkpointed regions (whole cells, or the edges leaving one node) recompute their activations in
backward: the step must be bit-identical (drop-path masks, BN running statistics, the global RNG
afterwards), and what the forward keeps for backward shrinks. The peak-RSS figures are in the issue's report
(``benchmarks/step_time.py``); here the saved tensors are counted through autograd's hooks.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas.nn import set_fast_paths
from automl_nas.errors import RecipeError
from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.space import DartsSpace

REPO = Path(__file__).resolve().parents[3]
TINY8 = InputSpec(height=8, width=8, num_classes=10)



def _soft(space, params):
    return {k: EdgeWeights(weights=torch.softmax(p, -1)) for k, p in params.items()}


def _step(net, params, x, space):
    torch.manual_seed(5)
    out = net(x, _soft(space, params))
    grads = torch.autograd.grad((out ** 2).sum(), list(params.values()) + list(net.parameters()))
    return out, grads, [b.clone() for b in net.buffers()], torch.get_rng_state()


@pytest.mark.parametrize("mode", ["cells", "edges"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
@pytest.mark.parametrize("options", [{}, {"drop_path": 0.3, "track_running_stats": True},
                                     {"ops": "darts_no_none", "partial_channels": 2, "track_running_stats": True}],
                         ids=["darts", "snas-tracked", "partial-channels"])
def test_checkpointing_gives_the_same_step(options, fast, mode):
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(channels=4, layers=3, **options))
    net = space.build_supernet(TINY8).double().train()
    set_fast_paths(net, fast)
    ckpt = copy.deepcopy(net)
    ckpt.checkpointing = mode
    params = {g.name: torch.randn(g.shape, dtype=torch.float64, requires_grad=True) for g in space.groups()}
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    out, grads, bufs, rng = _step(net, params, x, space)
    out_c, grads_c, bufs_c, rng_c = _step(ckpt, params, x, space)
    # float64 tolerance: "edges" on the fused path sums per edge first, then per node
    torch.testing.assert_close(out_c, out)
    for a, b in zip(grads_c, grads):
        torch.testing.assert_close(a, b)
    for a, b in zip(bufs_c, bufs):  # the recomputation did not move BN running statistics twice
        torch.testing.assert_close(a, b)
    assert torch.equal(rng_c, rng)


def _saved_bytes(checkpointing: str, fast: bool = True) -> int:
    """Bytes of the distinct storages autograd keeps from one forward pass for backward."""
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(channels=4, layers=5, checkpointing=checkpointing))
    net = space.build_supernet(InputSpec(height=16, width=16, num_classes=10)).train()
    set_fast_paths(net, fast)
    params = {g.name: torch.randn(g.shape, requires_grad=True) for g in space.groups()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(torch.randn(4, 3, 16, 16), _soft(space, params))
    out.sum().backward()
    return sum(storages.values())


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_checkpointing_keeps_less(fast):
    full, cells, edges = (_saved_bytes(mode, fast) for mode in ("off", "cells", "edges"))
    assert cells < 0.1 * full  # the cell inputs
    assert edges < 0.25 * full  # the edges' mixed outputs and the nodes


def test_fused_path_keeps_fewer_activations_than_plain():
    # shared ReLU and pooling per source node, edge weights folded into BN (nothing kept for the product)
    assert _saved_bytes("off", fast=True) < 0.75 * _saved_bytes("off", fast=False)


def test_cells_option_recomputes_only_when_training():
    space = DartsSpace(DartsConfig(channels=4, layers=3, checkpointing="cells"))
    net = space.build_supernet(TINY8)
    assert net.checkpointing == "cells" and not any(c.checkpoint_edges for c in net.cells)
    params = {g.name: torch.zeros(g.shape) for g in space.groups()}
    calls = []
    net.cells[0].register_forward_pre_hook(lambda m, i: calls.append(torch.is_grad_enabled()))
    out = net.train()(torch.randn(2, 3, 8, 8), _soft(space, params))
    out.sum().backward()
    assert len(calls) == 2  # forward + recomputation in backward
    calls.clear()
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8), _soft(space, params))
    assert len(calls) == 1


def test_recipe_option_is_checked():
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    registry = open_session().registry
    plan = plan_recipe(REPO / "recipes" / "darts.toml", registry, overrides=["space.checkpointing='edges'"])
    net = plan.space.build(registry).build_supernet(TINY8)
    assert net.checkpointing == "edges" and all(c.checkpoint_edges for c in net.cells)
    with pytest.raises(RecipeError, match="checkpointing"):
        plan_recipe(REPO / "recipes" / "darts.toml", registry, overrides=["space.checkpointing='yes'"])
    with pytest.raises(ValueError, match="checkpointing"):
        net.checkpointing = "layers"
