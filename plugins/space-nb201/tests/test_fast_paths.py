"""The fused NB201 supernet equals the plain per-edge path: forward, gradients, BN state (issue 8).

Every sampler form the methods produce is covered on a tiny supernet (C = 4, N = 1, 8x8 input):
soft weights (DARTS, SNAS, DrNAS), pruned masks (DrNAS progressive), hard samples with and
without the zero-valued scalars (GDAS), partial channels, tracked/affine BN and eval mode.
"""

from __future__ import annotations

import copy

import pytest
import torch

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas.nn import set_fast_paths
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.space import Nb201Space

TINY = InputSpec(channels=3, height=8, width=8, num_classes=10)
E, K = 6, 5


@pytest.fixture(autouse=True, params=["merged-convs", "separate-convs"])
def conv_grouping(request, monkeypatch):
    """Every test runs with narrow ops' 1x1 and 3x3 convs merged into one 3x3 conv and without."""
    from automl_nas_space_nb201 import fused

    monkeypatch.setattr(fused, "MERGE_CONVS_MAX_CHANNELS", 1024 if request.param == "merged-convs" else 0)
    return request.param


def pair(dtype=torch.float64, **options):
    """(plain, fast) copies of one randomly initialised tiny supernet."""
    torch.manual_seed(0)
    options = {"channels": 4, "cells_per_stage": 1, **options}
    net = Nb201Space(Nb201Config(**options)).build_supernet(TINY).to(dtype)
    for p in net.parameters():  # non-trivial affine BN parameters
        p.data.add_(0.1 * torch.randn_like(p))
    plain, fast = net, copy.deepcopy(net)
    assert set_fast_paths(plain, False) == 4 and set_fast_paths(fast, True) == 4  # supernet + 3 cells
    return plain, fast


def soft_weights(alpha, mask=None):
    w = torch.softmax(alpha, -1)
    if mask is not None:
        w = torch.where(mask, w, torch.zeros_like(w))
    return EdgeWeights(weights=w, mask=mask)


def hard_weights(alpha, active, add_inactive):
    y = torch.softmax(alpha, -1)
    onehot = torch.zeros_like(y).scatter_(-1, active.view(-1, 1), 1.0)
    return EdgeWeights(weights=onehot - y.detach() + y, active=active, add_inactive=add_inactive)


def run(net, make, alpha0, x, r):
    alpha = alpha0.clone().requires_grad_()
    out = net(x, {"cell": make(alpha)})
    (out * r).sum().backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    return out.detach(), alpha.grad, grads


def assert_same(plain, fast, make, *, dtype=torch.float64, tol=1e-9, train=True, steps=2):
    torch.manual_seed(1)
    alpha0 = torch.randn(E, K, dtype=dtype)
    plain.train(train)
    fast.train(train)
    for _ in range(steps):  # twice: running statistics must also stay in lockstep
        x = torch.randn(4, 3, 8, 8, dtype=dtype)
        r = torch.randn(4, 10, dtype=dtype)
        for net in (plain, fast):
            net.zero_grad(set_to_none=True)
        out_p, ga_p, gw_p = run(plain, make, alpha0, x, r)
        out_f, ga_f, gw_f = run(fast, make, alpha0, x, r)
        torch.testing.assert_close(out_f, out_p, rtol=tol, atol=tol)
        torch.testing.assert_close(ga_f, ga_p, rtol=tol, atol=tol)
        for name, g in gw_p.items():
            if g is None:  # an op that did not run gets no gradient on either path
                assert gw_f[name] is None, name
            else:
                torch.testing.assert_close(gw_f[name], g, rtol=tol, atol=tol, msg=name)
    state_p, state_f = plain.state_dict(), fast.state_dict()
    assert state_p.keys() == state_f.keys()
    for key, value in state_p.items():
        torch.testing.assert_close(state_f[key], value, rtol=tol, atol=tol, msg=key)


@pytest.mark.parametrize("track", [False, True])
def test_soft_weights(track):
    plain, fast = pair(track_running_stats=track)
    assert_same(plain, fast, soft_weights)


def test_soft_weights_affine_bn_and_eval_mode():
    plain, fast = pair(affine=True, track_running_stats=True)
    assert_same(plain, fast, soft_weights)
    assert_same(plain, fast, soft_weights, train=False)


def test_soft_weights_float32():
    plain, fast = pair(dtype=torch.float32)
    assert_same(plain, fast, soft_weights, dtype=torch.float32, tol=2e-5)


def test_pruned_ops_never_run():
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 0, 1], [1, 0, 1, 1, 0],
                         [1, 1, 1, 0, 0], [0, 0, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    plain, fast = pair(track_running_stats=True)
    assert_same(plain, fast, lambda a: soft_weights(a, mask))


@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("add_inactive", [True, False])
@pytest.mark.parametrize("active", [[3, 3, 0, 2, 4, 1], [3, 3, 3, 2, 4, 0]], ids=["all-live", "dead-node"])
def test_hard_samples(active, add_inactive, track):
    # Every op kind, two sampled 3x3 convs leaving node 0 (grouped), a 'none' edge; in
    # "dead-node" edge 3<-2 is 'none', so node 2's convs (one grouped with edge 1<-0's
    # in a naive fusion) must get no gradient, yet update their BN statistics when tracked.
    plain, fast = pair(track_running_stats=track)
    assert_same(plain, fast, lambda a: hard_weights(a, torch.tensor(active), add_inactive))


def test_hard_sample_all_none_cell():
    plain, fast = pair()
    assert_same(plain, fast, lambda a: hard_weights(a, torch.zeros(E, dtype=torch.long), True))


@pytest.mark.parametrize("make", [soft_weights,
                                  lambda a: hard_weights(a, torch.tensor([1, 3, 3, 4, 2, 0]), True)],
                         ids=["soft", "hard"])
def test_partial_channels(make):
    plain, fast = pair(channels=8, partial_channels=2, track_running_stats=True)
    assert_same(plain, fast, make)


def test_fast_path_is_channels_last_and_skips_unsampled_convs():
    plain, fast = pair(dtype=torch.float32)
    calls = []
    for net in (plain, fast):
        for name, m in net.named_modules():
            if isinstance(m, torch.nn.Conv2d) and ".edges." in name:
                m.register_forward_hook(lambda mod, inp, out, name=name: calls.append(name))
    active = torch.tensor([3, 3, 0, 2, 4, 1])
    x = torch.randn(2, 3, 8, 8)
    plain(x, {"cell": hard_weights(torch.zeros(E, K), active, True)})
    # The plain path calls each sampled conv module; the fast path calls none of them (grouped convs).
    assert sorted({c.split(".edges.")[1].split(".")[0] for c in calls}) == ["0", "1", "3"]
    calls.clear()
    fast(x, {"cell": hard_weights(torch.zeros(E, K), active, True)})
    assert calls == []
    feats = fast.stem(x.contiguous(memory_format=torch.channels_last))
    assert feats.is_contiguous(memory_format=torch.channels_last)


def test_fast_path_stays_channels_last_through_partial_channel_cells():
    _, fast = pair(dtype=torch.float32, channels=8, partial_channels=4)
    layouts = []
    for cell in fast.cells:
        cell.register_forward_hook(lambda m, i, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last)))
    fast(torch.randn(2, 3, 8, 8), {"cell": soft_weights(torch.zeros(E, K))})
    assert layouts and all(layouts)


def test_concat_shuffle_equals_cat_then_shuffle():
    from automl_nas.nn import concat_shuffle
    from automl_nas.nn import channel_shuffle

    node = torch.randn(2, 12, 4, 5)
    for layout in (torch.channels_last, torch.contiguous_format):
        head, rest = node.contiguous(memory_format=layout).split([3, 9], dim=1)
        got = concat_shuffle(head, rest, 4)
        assert torch.equal(got, channel_shuffle(torch.cat([head, rest], 1), 4))
        assert got.is_contiguous(memory_format=layout)


def test_incoming_edges_are_contiguous_rows():
    from automl_nas_space_nb201.encoding import EDGES
    from automl_nas_space_nb201.fused import _IN_RANGE

    for i, (lo, hi) in _IN_RANGE.items():
        assert [e for e, (i2, _) in enumerate(EDGES) if i2 == i] == list(range(lo, hi))


@pytest.mark.parametrize("make", [soft_weights, lambda a: hard_weights(a, torch.tensor([3, 3, 0, 2, 4, 1]), True)],
                         ids=["soft", "hard"])
def test_double_backward_matches(make):
    """Hessian-vector products w.r.t. the arch parameters (the engine's eigenvalue diagnostic)."""
    plain, fast = pair()
    torch.manual_seed(2)
    alpha0, v = torch.randn(E, K, dtype=torch.float64), torch.randn(E, K, dtype=torch.float64)
    x, r = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64)
    hvps = []
    for net in (plain, fast):
        alpha = alpha0.clone().requires_grad_()
        (grad,) = torch.autograd.grad((net(x, {"cell": make(alpha)}) * r).sum(), alpha, create_graph=True)
        hvps.append(torch.autograd.grad((grad * v).sum(), alpha)[0])
    torch.testing.assert_close(hvps[1], hvps[0], rtol=1e-8, atol=1e-10)
    assert hvps[0].abs().max() > 0


def test_fused_cell_keeps_an_nchw_layout():
    """On GPUs the supernet leaves the layout to the caller: the fused cell must work in NCHW too."""
    plain, fast = pair(channels=8, partial_channels=2)
    cell_p, cell_f = plain.cells[0], fast.cells[0]
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    w = soft_weights(torch.randn(E, K, dtype=torch.float64))
    out = cell_f(x, w)
    assert out.is_contiguous()
    torch.testing.assert_close(out, cell_p(x, w), rtol=1e-9, atol=1e-9)
