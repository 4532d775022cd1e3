"""NAS-Bench-201 candidate operations and the fixed macro blocks (stem, residual block, head).

Source: AutoDL-Projects ``xautodl/models/cell_operations.py`` (``OPS``, ``ReLUConvBN``,
``Pooling``, ``Zero``, ``ResNetBasicblock``) and ``xautodl/models/cell_infers/tiny_network.py``;
DrNAS ``201-space/cell_operations.py``; spec §1.1 and §1.4.

Deviations, both as the spec recommends:
* Convs never carry a bias (later AutoDL-Projects code adds one when BN is non-affine, §1.1).
* ``none`` returns ``torch.zeros_like(x)`` rather than ``x.mul(0.)``: same value, but a NaN or
  inf in ``x`` does not leak through the zero op.
"""

from __future__ import annotations

import torch
from torch import nn

from automl_nas_space_nb201.encoding import OPS

__all__ = ["OPS", "ReLUConvBN", "ResidualBlock", "Zero", "build_op", "make_head", "make_stem"]


class Zero(nn.Module):
    """``none``: zeros of the input's shape. ``is_zero`` lets the host MixedOp skip it."""

    is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, in that order (spec §1.1)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, *,
                 affine: bool, track_running_stats: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


def build_op(name: str, channels: int, *, affine: bool, track_running_stats: bool) -> nn.Module:
    """One in-cell op (stride 1, ``channels`` in and out)."""
    bn = {"affine": affine, "track_running_stats": track_running_stats}
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, **bn)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, **bn)
    if name == "avg_pool_3x3":
        # count_include_pad=False: border outputs average only real pixels (spec §10.1.6).
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}; allowed: {', '.join(OPS)}")


class ResidualBlock(nn.Module):
    """Stride-2 residual basic block between stages: ``shortcut(x) + b(a(x))`` (spec §1.4).

    Its BNs are affine and tracked in the search network too, as in every reference.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        bn = {"affine": True, "track_running_stats": True}
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, **bn)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, **bn)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_stem(c_in: int, channels: int) -> nn.Sequential:
    """Conv3x3 (no bias) -> BN (affine, tracked)."""
    return nn.Sequential(nn.Conv2d(c_in, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))


def make_head(channels: int, num_classes: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(lastact, global_pool, classifier)``: BN + ReLU *before* pooling, then Linear (spec §1.4)."""
    lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
    return lastact, nn.AdaptiveAvgPool2d(1), nn.Linear(channels, num_classes)
