"""The eight DARTS candidate ops and GDAS' fixed reduction cell (spec §2.1, §2.6).

Follows DARTS' ``operations.py`` (SNAS-Series ``Analysis/darts/cnn/operations.py``, DrNAS
``DARTS-space/operations.py``). Deviations: none for the ops. Search supernets put a non-affine
BN after pooling (DARTS ``model_search.py`` MixedOp); evaluation networks do not unless
``pool_bn`` (DrNAS' AvgPoolBN/MaxPoolBN). Convolutions have no bias (spec §1.1).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "DilConv",
    "FactorizedReduce",
    "GdasReductionBranches",
    "Identity",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "make_op",
]


def bn(c: int, affine: bool, track: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, stride, pad, no bias) -> BN (cell pre-processing)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, affine: bool = True, track: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, k, stride, pad, bias=False), bn(c_out, affine, track))


class SepConv(nn.Sequential):
    """Separable conv applied twice; only the first depthwise conv has the stride."""

    def __init__(self, c: int, k: int, stride: int, affine: bool = True, track: bool = True) -> None:
        pad = k // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine, track),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, 1, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine, track),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise Conv(k, dilation 2) -> Conv1x1 -> BN; receptive field 5x5 / 9x9."""

    def __init__(self, c: int, k: int, stride: int, affine: bool = True, track: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride, padding=k - 1, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            bn(c, affine, track),
        )


class Identity(nn.Module):
    """Stride-1 ``skip_connect``; the evaluation cell never drop-paths it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """``none``: zeros (every ``stride``-th pixel first); the host MixedOp skips it via ``is_zero``."""

    is_zero = True

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU; two stride-2 1x1 convs (C_out/2 each), the second on x shifted by one pixel; concat; BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out, affine, track)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def _pool(kind: str, c: int, stride: int, bn_after: bool, track: bool) -> nn.Module:
    pool = (nn.MaxPool2d(3, stride, padding=1) if kind == "max"
            else nn.AvgPool2d(3, stride, padding=1, count_include_pad=False))
    return nn.Sequential(pool, bn(c, False, track)) if bn_after else pool


def make_op(name: str, c: int, stride: int, *, affine: bool, track: bool = True, pool_bn: bool = False) -> nn.Module:
    """Build DARTS op ``name`` for ``c`` channels; ``pool_bn`` adds BN(affine=False) after pools."""
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return _pool(name[:3], c, stride, pool_bn, track)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine, track)
    if name.startswith(("sep_conv_", "dil_conv_")):
        k = int(name[-1])
        cls = SepConv if name.startswith("sep") else DilConv
        return cls(c, k, stride, affine, track)
    raise ValueError(f"unknown DARTS op {name!r}")


class GdasReductionBranches(nn.Module):
    """GDAS' fixed reduction cell after pre-processing (spec §2.6): four stride-2 branches, concat.

    Grouped convs use ``gcd(8, C)`` groups (AutoDL-Projects: 8) so tiny test networks build;
    for C divisible by 8 it is exactly the reference. No conv bias (spec §1.1).
    """

    def __init__(self, c: int, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        g = math.gcd(8, c)

        def conv_branch() -> nn.Sequential:
            return nn.Sequential(
                nn.ReLU(inplace=False),
                nn.Conv2d(c, c, (1, 3), stride=(1, 2), padding=(0, 1), groups=g, bias=False),
                nn.Conv2d(c, c, (3, 1), stride=(2, 1), padding=(1, 0), groups=g, bias=False),
                bn(c, affine, track),
                nn.ReLU(inplace=False),
                nn.Conv2d(c, c, 1, bias=False),
                bn(c, affine, track),
            )

        self.ops1 = nn.ModuleList([conv_branch(), conv_branch()])
        self.ops2 = nn.ModuleList([nn.Sequential(nn.MaxPool2d(3, 2, padding=1), bn(c, affine, track)) for _ in range(2)])

    def branches(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.ops1[0](s0), self.ops1[1](s1), self.ops2[0](s0), self.ops2[1](s1)]
