"""benchmarks/op_breakdown.py: a profiled step is split by kind of op, with the convolutions' FLOPs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from automl_nas.testing import script_fixture

REPO = Path(__file__).resolve().parents[1]


op_breakdown = script_fixture(REPO / "benchmarks" / "op_breakdown.py")


def test_kinds(op_breakdown):
    kind = op_breakdown.kind_of
    assert kind("aten::convolution_backward") == kind("aten::mkldnn_convolution") == "conv"
    assert kind("aten::native_batch_norm_backward") == "batch_norm"
    assert kind("aten::cat") == kind("aten::copy_") == "copy"
    assert kind("aten::addmm") == "matmul" and kind("aten::add_") == "elementwise"


def test_a_step_is_split_by_kind_with_conv_flops(op_breakdown):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 8 * 8, 10))
    x = torch.randn(4, 3, 8, 8)

    def step(i):
        net.zero_grad()
        net(x).sum().backward()

    # conv forward 2*N*Cout*H*W*Cin*9, and the same for the weight gradient; the input needs none
    forward = 2 * 4 * 8 * 8 * 8 * 3 * 9
    assert op_breakdown.conv_flops_per_step(step) == pytest.approx(2 * forward)
    x.requires_grad_(True)
    assert op_breakdown.conv_flops_per_step(step) == pytest.approx(3 * forward)
    x.requires_grad_(False)
    got = op_breakdown.profile_steps(step, 3, cuda=False, device="cpu")
    assert got.steps == 3 and set(got.ms_by_kind) == {"conv", "batch_norm", "matmul", "copy", "elementwise"}
    assert got.ms_by_kind["conv"] > 0 and got.ms_by_kind["batch_norm"] > 0 and got.ms_by_kind["matmul"] > 0
    assert got.conv_gflops > 0 and got.reference_gflops > 0 and got.kernels_per_step is None
    # every op of the step is counted once per step: conv fwd + bwd at least
    assert got.ops_per_step >= 2 and any(name == "aten::convolution_backward" for name, _, _ in got.top)
    lines = got.lines()
    assert lines[0].startswith("ms per step by kind: conv ") and "GFLOP/s achieved" in lines[1]
