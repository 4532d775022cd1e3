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


PRUNED = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 0, 1], [1, 0, 1, 1, 0],
                       [1, 1, 1, 0, 0], [0, 0, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize("make", [soft_weights,
                                  lambda a: hard_weights(a, torch.tensor([1, 3, 3, 4, 2, 0]), True),
                                  lambda a: soft_weights(a, PRUNED)],
                         ids=["soft", "hard", "pruned"])
@pytest.mark.parametrize("channels, k", [(8, 2), (16, 4), (8, 4)], ids=["c8-k2", "c16-k4", "c8-k4-fallback"])
def test_partial_channels(make, channels, k):
    # c8-k2 and c16-k4 take shuffle_split's dense channels-last route (part % k == 0 in every
    # stage); c8-k4 has part = 2 < k in the first stage, which takes the plain composition.
    plain, fast = pair(channels=channels, partial_channels=k, track_running_stats=True)
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


def _grads(fn, inputs, seed=3):
    """Outputs of ``fn(*inputs)`` and the gradients of a random linear loss on them."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    gen = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outs)
    return [o.detach() for o in outs], list(torch.autograd.grad(loss, leaves)), outs


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format], ids=["nhwc", "nchw"])
def test_concat_shuffle_equals_cat_then_shuffle(layout):
    from automl_nas.nn import channel_shuffle, concat_shuffle

    node = torch.randn(2, 12, 4, 5, dtype=torch.float64).contiguous(memory_format=layout)
    head, rest = (t.contiguous(memory_format=layout) for t in node.split([3, 9], dim=1))
    got, grads, outs = _grads(lambda h, r: concat_shuffle(h, r, 4), [head, rest])
    want, grads_want, _ = _grads(lambda h, r: channel_shuffle(torch.cat([h, r], 1), 4), [head, rest])
    assert torch.equal(got[0], want[0]) and all(torch.equal(a, b) for a, b in zip(grads, grads_want))
    assert outs[0].is_contiguous(memory_format=layout)
    if layout == torch.channels_last:  # the backward hands back dense channels-last gradients (issue 15)
        assert all(g.is_contiguous(memory_format=layout) for g in grads)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("c, k", [(16, 4), (16, 2), (32, 4), (8, 4)])
def test_shuffle_split_equals_split_of_the_shuffled_node(layout, c, k):
    from automl_nas.nn import channel_shuffle, shuffle_split

    part = c // k
    head = torch.randn(3, part, 4, 5, dtype=torch.float64).contiguous(memory_format=layout)
    rest = torch.randn(3, c - part, 4, 5, dtype=torch.float64).contiguous(memory_format=layout)
    got, grads, outs = _grads(lambda h, r: shuffle_split(h, r, k), [head, rest])
    want, grads_want, _ = _grads(lambda h, r: tuple(channel_shuffle(torch.cat([h, r], 1), k).split([part, c - part], 1)),
                                 [head, rest])
    for a, b in zip(got + grads, want + grads_want):
        assert torch.equal(a, b)
    if layout == torch.channels_last and part % k == 0:  # the dense route
        assert all(t.is_contiguous(memory_format=layout) for t in [*outs, *grads])
    # Only one output used: the other's gradient is zero, not missing.
    h, r = head.clone().requires_grad_(), rest.clone().requires_grad_()
    new_head, _ = shuffle_split(h, r, k)
    gh, gr = torch.autograd.grad(new_head.sum(), [h, r])
    wh, wr = torch.autograd.grad(channel_shuffle(torch.cat([h, r], 1), k)[:, :part].sum(), [h, r])
    assert torch.equal(gh, wh) and torch.equal(gr, wr)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format], ids=["nhwc", "nchw"])
def test_split_dense_equals_slicing(layout):
    from automl_nas.nn import split_dense

    x = torch.randn(2, 16, 4, 5, dtype=torch.float64).contiguous(memory_format=layout)
    got, grads, outs = _grads(lambda t: split_dense(t, 4), [x])
    want, grads_want, _ = _grads(lambda t: (t[:, :4], t[:, 4:]), [x])
    for a, b in zip(got + grads, want + grads_want):
        assert torch.equal(a, b)
    if layout == torch.channels_last:
        assert all(t.is_contiguous(memory_format=layout) for t in [*outs, *grads])


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format], ids=["nhwc", "nchw"])
def test_weighted_sum_values_and_gradients(layout):
    """The fused weighted sum's own backward (one dot product per 0-dim weight) equals autograd's."""
    from automl_nas.nn import weighted_sum

    torch.manual_seed(4)
    xs = [torch.randn(2, 4, 3, 5, dtype=torch.float64).contiguous(memory_format=layout) for _ in range(5)]
    xs[4] = torch.randn(2, 8, 3, 5, dtype=torch.float64).contiguous(memory_format=layout)[:, :4]  # a strided slice
    ws = [torch.randn((), dtype=torch.float64) for _ in range(3)] + [torch.rand(1, 1, 3, 5, dtype=torch.float64)]

    def fused(*t):
        x, w = t[:5], t[5:]
        return weighted_sum([(x[0], None), (x[1], w[0]), (x[2], w[1]), (x[3], w[3]), (x[4], w[2])], x[0])

    def reference(*t):
        x, w = t[:5], t[5:]
        return x[0] + w[0] * x[1] + w[1] * x[2] + w[3] * x[3] + w[2] * x[4]

    got, grads, _ = _grads(fused, [*xs, *ws])
    want, grads_want, _ = _grads(reference, [*xs, *ws])
    torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, grads_want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        assert a.shape == b.shape


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
