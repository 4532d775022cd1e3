"""Ops, mixed edges and SNAS op costs of the DARTS space (spec §2.1, §5.4, §10.2 items 2-3)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas.nn import MixedOp
from automl_nas_space_darts.config import DARTS_OPS, DartsConfig
from automl_nas_space_darts.costs import snas_op_cost
from automl_nas_space_darts.ops import FactorizedReduce, GdasReductionBranches, Zero, make_op
from automl_nas_space_darts.space import DartsSpace



def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


PARAMS_C16 = {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
              "sep_conv_3x3": 800, "sep_conv_5x5": 1312, "dil_conv_3x3": 400, "dil_conv_5x5": 656}


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", DARTS_OPS)
def test_op_shape_and_params(name, stride):
    torch.manual_seed(0)
    op = make_op(name, 16, stride, affine=False)
    y = op(torch.randn(2, 16, 8, 8))
    assert y.shape == (2, 16, 8 // stride, 8 // stride)
    expected = 256 if (name == "skip_connect" and stride == 2) else PARAMS_C16[name]  # FactorizedReduce
    assert n_params(op) == expected
    assert n_params(make_op(name, 16, stride, affine=True)) == expected + 2 * 16 * sum(
        isinstance(m, nn.BatchNorm2d) for m in op.modules())


def test_factorized_reduce_shape_and_shift():
    fr = FactorizedReduce(6, 8, affine=False)
    assert fr(torch.randn(2, 6, 8, 8)).shape == (2, 8, 4, 4)
    assert isinstance(make_op("skip_connect", 8, 2, affine=False), FactorizedReduce)


def test_none_skip_and_pools():
    x = torch.randn(2, 4, 8, 8)
    zero = make_op("none", 4, 2, affine=False)
    assert isinstance(zero, Zero) and zero.is_zero
    assert torch.equal(zero(x), torch.zeros(2, 4, 4, 4))
    assert make_op("skip_connect", 4, 1, affine=False)(x) is x
    const = torch.full((1, 4, 8, 8), 3.0)
    assert torch.equal(make_op("avg_pool_3x3", 4, 1, affine=True)(const), const)  # count_include_pad=False
    # search/DrNAS pools carry BN(affine=False); the plain evaluation pool has none
    with_bn = make_op("max_pool_3x3", 4, 1, affine=False, pool_bn=True)
    assert isinstance(with_bn[1], nn.BatchNorm2d) and not with_bn[1].affine
    assert isinstance(make_op("max_pool_3x3", 4, 1, affine=True), nn.MaxPool2d)


def test_gdas_fixed_reduction_branches():
    body = GdasReductionBranches(16, affine=False)
    outs = body.branches(torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 4, 4)] * 4
    conv = body.ops1[0][1]
    assert conv.kernel_size == (1, 3) and conv.stride == (1, 2) and conv.groups == 8


def test_mixed_op_is_softmax_weighted_sum_float64():
    torch.manual_seed(0)
    ops = [make_op(n, 4, 1, affine=False, pool_bn=True).double() for n in DARTS_OPS]
    mixed = MixedOp(ops)
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    w = torch.softmax(torch.randn(1, 8, dtype=torch.float64), -1)
    got = mixed(x, EdgeWeights(weights=w), 0)
    expected = sum(w[0, k] * op(x) for k, op in enumerate(ops))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    onehot = torch.zeros(1, 8, dtype=torch.float64)
    onehot[0, 4] = 1.0
    torch.testing.assert_close(mixed(x, EdgeWeights(weights=onehot), 0), ops[4](x), rtol=0, atol=0)


def test_snas_reference_costs_c16_h32():
    # normal cell 0 of a C=16 supernet sees 32x32; reduce cell 0 of a C=8 supernet has C=16 at 32x32
    inputs = InputSpec(height=32, width=32)
    normal = DartsSpace(DartsConfig(channels=16, layers=8)).op_costs(inputs)["normal"]
    reduce = DartsSpace(DartsConfig(channels=8, layers=8)).op_costs(inputs)["reduce"]
    assert normal["params"].shape == (6, 14, 8) and reduce["flops"].shape == (2, 14, 8)
    k = {n: i for i, n in enumerate(DARTS_OPS)}

    def at(costs, op, edge=0):
        return tuple(costs[m][0, edge, k[op]].item() for m in ("params", "flops", "mac"))

    assert at(normal, "sep_conv_3x3") == (800, 819_200, 131_872)
    assert at(normal, "dil_conv_3x3") == (400, 409_600, 65_936)
    assert at(normal, "sep_conv_5x5") == (1312, 1_343_488, 132_384)
    assert at(normal, "dil_conv_5x5") == (656, 671_744, 66_192)
    assert at(normal, "max_pool_3x3") == at(normal, "avg_pool_3x3") == (0, 147_456, 32_768)
    assert at(normal, "skip_connect") == (0, 0, 32_768)
    assert at(normal, "none") == (0, 0, 0)
    assert at(reduce, "sep_conv_3x3")[1:] == (204_800, 45_856)  # edge 2<-0: stride 2
    assert at(reduce, "max_pool_3x3") == (0, 36_864, 20_480)
    assert at(reduce, "skip_connect") == (256, 65_536, 37_120)  # FactorizedReduce
    # edge 3<-2 of a reduction cell is stride 1 on the halved map (C=16, side 16)
    assert at(reduce, "sep_conv_3x3", edge=4) == snas_op_cost("sep_conv_3x3", 16, 16, 1)
    # spec §10.4 item 5: linear combination for sep_conv_3x3
    p, f, m = at(normal, "sep_conv_3x3")
    assert math.isclose(0.43 * (2 * p + f / 4000 + m / 100), 1343.1136, rel_tol=1e-12)


def test_op_costs_positions_and_variants():
    inputs = InputSpec(height=32, width=32)
    costs = DartsSpace(DartsConfig(channels=16, layers=8)).op_costs(inputs)
    sep = DARTS_OPS.index("sep_conv_3x3")
    # normal cells 0,1 at (C16, 32), cells 3,4 at (C32, 16), cells 6,7 at (C64, 8)
    assert costs["normal"]["params"][:, 0, sep].tolist() == [800, 800, 2624, 2624, 9344, 9344]
    assert costs["normal"]["flops"][:, 0, sep].tolist() == [800 * 1024] * 2 + [2624 * 256] * 2 + [9344 * 64] * 2
    no_none = DartsSpace(DartsConfig(channels=16, layers=8, ops="darts_no_none")).op_costs(inputs)
    assert no_none["normal"]["flops"].shape == (6, 14, 7)
    assert "reduce" not in DartsSpace(DartsConfig(channels=16, layers=6, reduction="gdas_frc")).op_costs(inputs)
    pc = DartsSpace(DartsConfig(channels=16, layers=8, partial_channels=4)).op_costs(inputs)
    assert pc["normal"]["params"][0, 0, sep].item() == 2 * 4 * 9 + 2 * 16  # ops built for C/K_pc = 4
