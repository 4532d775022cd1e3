"""Mixed operations: the place where a sampler's edge weights meet the candidate ops.

Search spaces build their supernet cells from :class:`MixedOp` (and
:class:`PartialMixedOp` for partial-channel connections) so that every method
plugs in through :class:`~automl_nas.api.EdgeWeights` alone.
"""

from __future__ import annotations

import torch
from torch import nn

from automl_nas.api.arch import EdgeWeights


class MixedOp(nn.Module):
    """Edge ``e`` of a cell: ``sum_k w[e, k] * o_k(x)``, or only the sampled op.

    Ops with a true ``is_zero`` attribute (``none``) are skipped in the weighted
    sum: they add exactly 0 to the output and to every gradient, so skipping
    them changes nothing but the cost.
    """

    def __init__(self, ops: list[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: EdgeWeights, edge: int) -> torch.Tensor:
        active = weights.active_list()
        row = weights.weights[edge]
        if active is not None:
            k = active[edge]
            out = row[k] * self.ops[k](x)
            if weights.add_inactive:
                # GDAS NB201 form: the others' weights are 0 in value but carry gradient.
                out = out + (torch.cat([row[:k], row[k + 1 :]]).sum())
            return out
        mask = weights.mask_list()
        out = None
        zero_op = None
        for k, op in enumerate(self.ops):
            if mask is not None and not mask[edge][k]:
                continue
            if getattr(op, "is_zero", False):
                zero_op = op
                continue
            y = row[k] * op(x)
            out = y if out is None else out + y
        if out is None:  # only zero ops allowed on this edge
            out = zero_op(x) if zero_op is not None else x * 0
        return out


def set_fast_paths(module: nn.Module, enabled: bool) -> int:
    """Switch the fused forward of every sub-module that offers one; returns how many.

    A module offers a fast path by carrying a boolean ``fast_paths`` attribute.
    Fast and plain paths compute the same function (the equality tests compare
    them); the plain path stays as the readable reference (recipe ``run.fast_paths``).
    """
    count = 0
    for m in module.modules():
        if isinstance(getattr(m, "fast_paths", None), bool):
            m.fast_paths = bool(enabled)
            count += 1
    return count


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Old channel ``g * (C / groups) + r`` moves to ``r * groups + g`` (DrNAS §7.3)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PartialMixedOp(nn.Module):
    """Partial channel connection (PC-DARTS / DrNAS §7.3).

    The first ``C / k`` channels go through ``mixed`` (built for ``C / k``
    channels); the rest bypass it (max-pooled 2x2 on stride-2 edges); the two
    parts are concatenated and shuffled with ``k`` groups. ``k = 1`` is the plain
    mixed op.
    """

    def __init__(self, mixed: MixedOp, k: int, stride: int = 1) -> None:
        super().__init__()
        self.mixed, self.k, self.stride = mixed, k, stride
        self.bypass_pool = nn.MaxPool2d(2, 2) if stride == 2 else None

    def forward(self, x: torch.Tensor, weights: EdgeWeights, edge: int) -> torch.Tensor:
        if self.k == 1:
            return self.mixed(x, weights, edge)
        part = x.shape[1] // self.k
        head, rest = x[:, :part], x[:, part:]
        out = self.mixed(head, weights, edge)
        if self.bypass_pool is not None:
            rest = self.bypass_pool(rest)
        return channel_shuffle(torch.cat([out, rest], dim=1), self.k)
