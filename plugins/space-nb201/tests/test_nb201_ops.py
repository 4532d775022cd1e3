"""NB201 ops and mixed edges (spec §10.1.5, .6, .7)."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api.arch import EdgeWeights
from automl_nas.nn import MixedOp
from automl_nas_space_nb201.ops import OPS, ResidualBlock, Zero, build_op


def _ops(c: int, **bn) -> list[torch.nn.Module]:
    bn = {"affine": False, "track_running_stats": False, **bn}
    return [build_op(name, c, **bn) for name in OPS]


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_op_structure():
    conv3 = build_op("nor_conv_3x3", 8, affine=False, track_running_stats=True)
    relu, conv, bn = list(conv3)
    assert isinstance(relu, torch.nn.ReLU) and isinstance(bn, torch.nn.BatchNorm2d)
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1) and conv.bias is None
    assert bn.affine is False and bn.track_running_stats is True
    pool = build_op("avg_pool_3x3", 8, affine=False, track_running_stats=False)
    assert pool.count_include_pad is False
    assert Zero.is_zero is True and getattr(build_op("skip_connect", 8, affine=False, track_running_stats=False), "is_zero", False) is False
    with pytest.raises(ValueError, match="allowed: none, skip_connect"):
        build_op("sep_conv_3x3", 8, affine=False, track_running_stats=False)


def test_none_skip_pool_values():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    none, skip, _, _, pool = _ops(4)
    z = none(x)
    assert z.shape == x.shape and torch.count_nonzero(z) == 0
    assert torch.equal(skip(x), x)
    const = torch.full((2, 4, 8, 8), 3.25)
    assert torch.equal(pool(const), const)  # borders too: count_include_pad=False


@pytest.mark.parametrize(("affine", "expected"), [(False, {"nor_conv_3x3": 2304, "nor_conv_1x1": 256}),
                                                  (True, {"nor_conv_3x3": 2304 + 32, "nor_conv_1x1": 256 + 32})])
def test_param_counts_c16(affine, expected):
    for name, op in zip(OPS, _ops(16, affine=affine)):
        assert _n_params(op) == expected.get(name, 0), name


def test_residual_block_shapes_and_bn():
    block = ResidualBlock(4, 8)
    y = block(torch.randn(2, 4, 8, 8))
    assert y.shape == (2, 8, 4, 4)
    bns = [m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 2 and all(b.affine and b.track_running_stats for b in bns)
    assert _n_params(block) == 9 * 4 * 8 + 2 * 8 + 9 * 8 * 8 + 2 * 8 + 4 * 8


@pytest.fixture()
def edge():
    torch.manual_seed(1)
    mixed = MixedOp(_ops(4)).double()
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    outs = [op(x) for op in mixed.ops]
    return mixed, x, outs


def _run(mixed, x, w):
    # the edge is row 2 of a 6x5 weight matrix, as in a cell
    weights = torch.zeros(6, 5, dtype=torch.float64)
    weights[2] = w
    return mixed(x, EdgeWeights(weights=weights), 2)


def test_mixed_edge_one_hot_equals_op(edge):
    mixed, x, outs = edge
    for k in range(5):
        assert torch.equal(_run(mixed, x, torch.eye(5, dtype=torch.float64)[k]), outs[k]), OPS[k]
    assert torch.count_nonzero(_run(mixed, x, torch.zeros(5, dtype=torch.float64))) == 0


def test_mixed_edge_softmax_weighted_sum_and_linearity(edge):
    mixed, x, outs = edge
    w = torch.softmax(torch.randn(5, dtype=torch.float64), -1)
    expected = sum(w[k] * outs[k] for k in range(5))
    torch.testing.assert_close(_run(mixed, x, w), expected, rtol=1e-12, atol=1e-12)
    w2 = torch.randn(5, dtype=torch.float64)
    a, b = 0.7, -1.3
    torch.testing.assert_close(_run(mixed, x, a * w + b * w2), a * _run(mixed, x, w) + b * _run(mixed, x, w2),
                               rtol=1e-10, atol=1e-12)


def test_hard_sample_runs_only_the_active_op(edge):
    mixed, x, outs = edge
    calls = []
    for k, op in enumerate(mixed.ops):
        op.register_forward_hook(lambda m, i, o, k=k: calls.append(k))
    weights = torch.nn.functional.one_hot(torch.tensor([3] * 6), 5).double()
    y = mixed(x, EdgeWeights(weights=weights, active=torch.tensor([3] * 6)), 2)
    assert calls == [3] and torch.equal(y, outs[3])
