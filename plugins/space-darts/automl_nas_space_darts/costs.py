"""Resource costs: SNAS' per-op table for the supernet, exact params/MACs of evaluation networks.

``snas_op_cost`` follows SNAS-Series ``SNAS/operations.py`` (spec §5.4): per op instance, from the
op's channels C and output size; FLOPs are multiply-accumulates; BN parameters not counted. Sizes
are ``(height, width)``: the paper's y*y is the output's pixel count, which a non-square image
made wrong when only the height was used.
Deviation: with partial channels the op's own channel count C/K_pc is used (the op is built
that small). ``network_macs`` counts conv and linear multiply-adds of :class:`DartsNetwork`
exactly (pools, BN, ReLU, additions and the auxiliary head excluded), the quantity that
``torch.utils.flop_counter.FlopCounterMode`` reports as 2 x MACs.
"""

from __future__ import annotations

import math

import torch

from automl_nas_space_darts.genotype import DartsGenotype
from automl_nas_space_darts.network import cell_plan

__all__ = ["network_macs", "network_params", "snas_op_cost", "supernet_op_costs"]

Size = tuple[int, int]


def _size(side: int | Size) -> Size:
    return (side, side) if isinstance(side, int) else (int(side[0]), int(side[1]))


def _halved(size: Size) -> Size:
    """A stride-2 op's output size (padding 1, as every DARTS reduction op)."""
    return (size[0] + 1) // 2, (size[1] + 1) // 2


def snas_op_cost(op: str, c: int, side_in: int | Size, stride: int) -> tuple[float, float, float]:
    """``(params, flops, mac)`` of one op instance (spec §5.4 table) whose input is ``side_in``
    (a side, or ``(height, width)``)."""
    size_in = _size(side_in)
    y = size_in if stride == 1 else _halved(size_in)
    y2 = y[0] * y[1]
    if op == "none":
        return 0.0, 0.0, 0.0
    if op in ("max_pool_3x3", "avg_pool_3x3"):
        return 0.0, 9.0 * y2 * c, (2.0 if stride == 1 else 5.0) * y2 * c
    if op == "skip_connect":
        if stride == 1:
            return 0.0, 0.0, 2.0 * c * size_in[0] * size_in[1]
        p = float(c * c)  # FactorizedReduce: 2 * C * (C/2)
        return p, p * y2, 2.0 * y2 * (4 * c + c / 2) + p
    k = int(op[-1])
    if op.startswith("sep_conv_"):
        p = float(2 * c * k * k + 2 * c * c)
        return p, p * y2, y2 * (8 if stride == 1 else 11) * c + p
    if op.startswith("dil_conv_"):
        p = float(c * k * k + c * c)
        return p, p * y2, y2 * (4 if stride == 1 else 7) * c + p
    raise ValueError(f"unknown DARTS op {op!r}")


def supernet_op_costs(*, ops: tuple[str, ...], channels: int, layers: int, steps: int, side: int | Size,
                      partial_channels: int = 1, searched_reduction: bool = True) -> dict[str, dict[str, torch.Tensor]]:
    """``{group: {"params"|"flops"|"mac": tensor (cells of the type, E, K)}}`` at each op's position
    for an input image of ``side`` (or ``(height, width)``)."""
    per_group: dict[str, list[list[list[tuple[float, float, float]]]]] = {"normal": [], "reduce": []}
    size = _size(side)
    for c, red in cell_plan(layers, channels):
        c_op = c // partial_channels
        if not red or searched_reduction:
            cell = []
            for i in range(2, steps + 2):
                for j in range(i):
                    stride = 2 if red and j < 2 else 1
                    s_in = size if stride == 2 or not red else _halved(size)
                    cell.append([snas_op_cost(op, c_op, s_in, stride) for op in ops])
            per_group["reduce" if red else "normal"].append(cell)
        size = _halved(size) if red else size
    out = {}
    for group, cells in per_group.items():
        if not cells:
            continue
        t = torch.tensor(cells, dtype=torch.get_default_dtype())  # (cells, E, K, 3)
        out[group] = {"params": t[..., 0], "flops": t[..., 1], "mac": t[..., 2]}
    return out


def _op_macs(op: str, c: int, y2: int) -> int:
    """Multiply-adds of one evaluation op producing ``y2`` output pixels."""
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        return 2 * (k * k * c + c * c) * y2
    if op.startswith("dil_conv_"):
        k = int(op[-1])
        return (k * k * c + c * c) * y2
    return 0  # none, pools, identity (FactorizedReduce skip handled by the caller)


def _gdas_frc_macs(c: int, size: Size) -> int:
    """Both conv branches of GDAS' reduction cell: (1,3) stride (1,2), (3,1) stride (2,1), 1x1."""
    g = math.gcd(8, c)
    half = _halved(size)
    one = (c * (c // g) * 3 * size[0] * half[1] + c * (c // g) * 3 * half[0] * half[1]
           + c * c * half[0] * half[1])
    return 2 * one


def network_macs(g: DartsGenotype, *, channels: int, layers: int, num_classes: int, side: int | Size,
                 in_channels: int = 3, stem_multiplier: int = 3, steps: int = 4) -> int:
    """Conv + linear multiply-adds of the evaluation network for one image of ``side`` (or
    ``(height, width)``), the auxiliary head excluded."""
    size = _size(side)
    c_stem = stem_multiplier * channels
    macs = in_channels * c_stem * 9 * size[0] * size[1]
    c_pp, c_p = c_stem, c_stem
    for c, red in cell_plan(layers, channels):
        out_size = _halved(size) if red else size
        # pre0 is FactorizedReduce (2 x C_pp x C/2 per output pixel) or a 1x1 conv: both C_pp*C per pixel
        macs += (c_pp * c + c_p * c) * size[0] * size[1]
        if red and g.fixed_reduction:
            macs += _gdas_frc_macs(c, size)
            out = 4 * c
        else:
            kind = "reduce" if red else "normal"
            y2 = out_size[0] * out_size[1]
            for pairs in g.nodes(kind, steps):
                for op, j in pairs:
                    if op == "skip_connect" and red and j < 2:
                        macs += c * c * y2
                    else:
                        macs += _op_macs(op, c, y2)
            out = len(g.reduce_concat if red else g.normal_concat) * c
        c_pp, c_p, size = c_p, out, out_size
    return macs + c_p * num_classes


def network_params(net: torch.nn.Module) -> int:
    """Trainable parameters of a network, the auxiliary head excluded."""
    return sum(p.numel() for name, p in net.named_parameters() if not name.startswith("auxiliary_head."))
