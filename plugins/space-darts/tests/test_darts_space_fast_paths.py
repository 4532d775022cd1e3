"""The DARTS space's fast paths compute the plain path's function (issue 8).

Float64 tiny networks: the fused cell forward (channels-last, per-source sharing, folded edge
weights, the depthwise backward rewrites) against the per-edge MixedOp path, forward values,
gradients w.r.t. weights and architecture parameters, BN running statistics and Hessian-vector
products; and whole engine steps of every shipped DARTS-space recipe with ``run.fast_paths`` on/off.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas.nn import set_fast_paths
from automl_nas.testing import engine_steps_state
from automl_nas_space_darts.config import DartsConfig
from automl_nas.nn import depthwise_conv2d
from automl_nas_space_darts.space import DartsSpace

REPO = Path(__file__).resolve().parents[3]
TINY8 = InputSpec(height=8, width=8, num_classes=10)



# ------------------------------------------------------------------ depthwise conv


@pytest.mark.parametrize("k, dilation, stride", [(3, 1, 1), (5, 1, 1), (3, 2, 1), (5, 2, 1),
                                                 (3, 1, 2), (5, 1, 2), (3, 2, 2), (5, 2, 2)])
@pytest.mark.parametrize("side", [7, 8, 18])  # odd, small even (polyphase weight grad), > 16x16
@pytest.mark.parametrize("channels_last", [False, True])
def test_depthwise_conv_equals_conv2d(k, dilation, stride, side, channels_last):
    torch.manual_seed(side)
    padding = dilation * (k - 1) // 2
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 3, side, side, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(3, 1, k, k, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(x, w, None, stride, padding, dilation, 3)
    out = depthwise_conv2d(x, w, stride, padding, dilation)
    torch.testing.assert_close(out, ref)
    go = torch.randn_like(ref)
    g_ref = torch.autograd.grad(ref, [x, w], go, create_graph=True)
    g_out = torch.autograd.grad(out, [x, w], go, create_graph=True)
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a, b)
    v = [torch.randn_like(t) for t in g_ref]  # double backward: Hessian-vector products
    h_ref = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g_ref, v)), [x, w])
    h_out = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g_out, v)), [x, w])
    for a, b in zip(h_out, h_ref):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ fused cell vs plain


def _sample(params: dict, mode: str, generator: torch.Generator) -> dict:
    out = {}
    for group, p in params.items():
        w = torch.softmax(p, -1)
        if mode == "hard":  # GDAS: one op per edge, straight-through weight, 'none' included
            idx = torch.randint(0, p.shape[1], (p.shape[0],), generator=generator)
            onehot = F.one_hot(idx, p.shape[1]).to(p.dtype)
            out[group] = EdgeWeights(weights=onehot - w.detach() + w, active=idx, add_inactive=group == "normal")
        elif mode == "mask":  # DrNAS progressive pruning; edge 0 keeps only its first op
            mask = torch.rand(p.shape, generator=generator) > 0.4
            mask[0] = False
            mask[0, 0] = True
            out[group] = EdgeWeights(weights=w * mask, mask=mask)
        else:
            out[group] = EdgeWeights(weights=w)
    return out


def _forward_backward(net, params, x, mode: str) -> tuple:
    torch.manual_seed(11)  # drop-path masks
    out = net(x, _sample(params, mode, torch.Generator().manual_seed(3)))
    leaves = list(params.values()) + list(net.parameters())
    grads = torch.autograd.grad((out ** 2).sum(), leaves, allow_unused=True)
    return out, grads, [b.clone() for b in net.buffers()]


CASES = {
    "darts-soft": ({}, "soft", True),
    "snas-drop-path": ({"drop_path": 0.3}, "soft", True),
    "running-stats": ({"track_running_stats": True}, "soft", True),
    "running-stats-eval": ({"track_running_stats": True}, "soft", False),
    "affine": ({"affine": True}, "soft", True),
    "gdas-hard": ({}, "hard", True),
    "gdas-frc-hard": ({"reduction": "gdas_frc", "layout": "gdas"}, "hard", True),
    "drnas-masked-partial": ({"ops": "darts_no_none", "partial_channels": 2, "track_running_stats": True}, "mask", True),
    "masked-with-none": ({}, "mask", True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fused_cell_equals_plain(case):
    options, mode, training = CASES[case]
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(channels=4, layers=3, **options))
    plain = space.build_supernet(TINY8).double().train(training)
    fast = copy.deepcopy(plain)
    assert set_fast_paths(plain, False) >= 2 and set_fast_paths(fast, True) >= 2  # supernet + searched cells
    params = {g.name: torch.randn(g.shape, dtype=torch.float64, requires_grad=True) for g in space.groups()}
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    out_p, grads_p, bufs_p = _forward_backward(plain, params, x, mode)
    out_f, grads_f, bufs_f = _forward_backward(fast, params, x, mode)
    torch.testing.assert_close(out_f, out_p)
    assert [g is None for g in grads_f] == [g is None for g in grads_p]
    assert sum(g is not None for g in grads_p) > len(params)
    for a, b in zip(grads_f, grads_p):
        if a is not None:
            torch.testing.assert_close(a, b)
    for a, b in zip(bufs_f, bufs_p):  # BN running statistics moved alike
        torch.testing.assert_close(a, b)


def test_fused_forward_is_the_default_and_runs_channels_last():
    net = DartsSpace(DartsConfig(channels=4, layers=3)).build_supernet(TINY8)
    assert net.fast_paths and all(c.fast_paths for c in net.cells)
    seen = []
    net.cells[0].register_forward_hook(lambda m, i, o: seen.append(o.is_contiguous(memory_format=torch.channels_last)))
    sample = {g: EdgeWeights(weights=torch.full((14, 8), 1 / 8)) for g in ("normal", "reduce")}
    net(torch.randn(2, 3, 8, 8), sample)
    assert seen == [True]


def test_hessian_vector_products_agree():
    """Double backward through the fused cells (the engine's Hessian eigenvalue diagnostic)."""
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(channels=4, layers=3))
    plain = space.build_supernet(TINY8).double().train()
    fast = copy.deepcopy(plain)
    set_fast_paths(plain, False)
    params = {g.name: torch.randn(g.shape, dtype=torch.float64, requires_grad=True) for g in space.groups()}
    x, y = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.tensor([1, 4, 7])
    v = [torch.randn_like(p) for p in params.values()]
    hv = []
    for net in (plain, fast):
        loss = F.cross_entropy(net(x, _sample(params, "soft", torch.Generator())), y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        hv.append(torch.autograd.grad(grads, list(params.values()), grad_outputs=v))
    for a, b in zip(*hv):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ engine steps, shipped recipes


def _search(tmp_path: Path, recipe: str, fast: bool, extra: tuple, epoch: int):
    from automl_nas.testing import build_search

    tiny = ['data={name="digits", size=8, batch_size=8, limit=64}', "space.channels=4", "space.layers=3",
            "run.device='cpu'", "run.threads=1", f"run.fast_paths={str(fast).lower()}"]
    return build_search(REPO / "recipes" / recipe, root=tmp_path, name=f"{recipe}-{fast}", epoch=epoch,
                        overrides=[*tiny, *extra])


@pytest.mark.parametrize("recipe, extra, epoch", [
    ("darts.toml", ("search.second_order=false",), 0),
    ("darts.toml", (), 0),
    ("snas-darts.toml", (), 0),
    ("gdas-darts.toml", (), 0),
    # Stage 2: pruned ops and partial channels widened 6 -> 4 by Net2Wider; the fused path reads
    # the widened per-edge modules. Arch SGD: Adam would blow pruned ops' float-noise gradients up.
    ("drnas-darts.toml", ("space.channels=12", "search.sampler.stage_epochs=[2, 2]", "search.sampler.warmup_epochs=0",
                          "search.arch_optimizer={name='sgd', lr=3e-4}"), 2),
], ids=["darts-1st", "darts-2nd", "snas", "gdas", "drnas-progressive-stage2"])
def test_engine_steps_agree(tmp_path, recipe, extra, epoch):
    plain = engine_steps_state(_search(tmp_path, recipe, False, extra, epoch))
    fast_search = _search(tmp_path, recipe, True, extra, epoch)
    assert fast_search.run.supernet.fast_paths
    fast = engine_steps_state(fast_search)
    assert plain.keys() == fast.keys()  # the parameter layout is the plain path's
    for key, value in plain.items():
        torch.testing.assert_close(fast[key], value, rtol=1e-4, atol=2e-5, msg=key)
    if recipe.startswith("drnas"):
        assert fast_search.run.supernet.cells[0].edges[0].k == 4
