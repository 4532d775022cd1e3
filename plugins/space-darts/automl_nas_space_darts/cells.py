"""DARTS cells: the searched cell (14 mixed edges), the genotype cell and GDAS' fixed reduction cell.

Follows DARTS ``model_search.py`` / ``model.py`` (SNAS-Series ``Analysis/darts/cnn``; spec §2.2)
and AutoDL-Projects' ``GDAS_Reduction_Cell`` (spec §2.6). Deviation: the genotype cell accepts
any number of inputs per node, so SNAS' 14-entry ``edge_all`` cells build too; their ``none``
entries are skipped (they add exactly zero).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from automl_nas.api.arch import EdgeWeights
from automl_nas.nn import MixedOp, PartialMixedOp

from automl_nas_space_darts.checkpointing import checkpointed, recomputes
from automl_nas_space_darts.fused import fused_cell_forward
from automl_nas_space_darts.ops import FactorizedReduce, GdasReductionBranches, Identity, ReLUConvBN, Zero, make_op

__all__ = ["EvalCell", "GdasReductionCell", "SearchCell", "drop_path"]


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples with probability ``p`` and rescale the rest by ``1/(1-p)`` (DARTS utils)."""
    keep = 1.0 - p
    mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)
    return x / keep * mask


def _preprocess(c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool, track: bool) -> tuple[nn.Module, nn.Module]:
    pre0 = FactorizedReduce(c_pp, c, affine, track) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine, track)
    return pre0, ReLUConvBN(c_p, c, 1, 1, 0, affine, track)


class SearchCell(nn.Module):
    """A supernet cell: node i sums a mixed edge from every earlier node; output concat of the last nodes.

    ``fast_paths`` (default on; switched by :func:`automl_nas.nn.mixed_op.set_fast_paths`)
    selects :func:`~automl_nas_space_darts.fused.fused_cell_forward`, which computes the same
    function source node by source node; off, every edge runs its own (Partial)MixedOp.
    ``checkpoint_edges`` recomputes the edges' ops in backward and keeps only their mixed outputs
    (per source node on the fused path, per edge on the plain one).
    """

    def __init__(self, *, steps: int, multiplier: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, ops: Sequence[str], affine: bool, track: bool, partial_channels: int = 1,
                 pool_bn: bool = True) -> None:
        super().__init__()
        self.reduction, self.steps, self.multiplier = reduction, steps, multiplier
        self.op_names = tuple(ops)
        self.fast_paths = True
        self.checkpoint_edges = False
        self.preprocess0, self.preprocess1 = _preprocess(c_pp, c_p, c, reduction_prev, affine, track)
        k = partial_channels
        if c % k:
            raise ValueError(f"partial_channels={k} must divide the cell's channels ({c})")
        self.edges = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                # DARTS model_search: pools get a non-affine BN in the supernet (spec §2.1); AutoDL's
                # GDAS search cells (xautodl/models/cell_operations.py POOLING) have none: pool_bn=False.
                mixed = MixedOp([make_op(name, c // k, stride, affine=affine, track=track, pool_bn=pool_bn) for name in ops])
                self.edges.append(PartialMixedOp(mixed, k, stride) if k > 1 else mixed)
        # edges_from[j]: (edge index, target node - 2) of every edge reading node j, in edge order.
        self.edges_from: list[list[tuple[int, int]]] = [[] for _ in range(steps + 1)]
        e = 0
        for i in range(steps):
            for j in range(2 + i):
                self.edges_from[j].append((e, i))
                e += 1

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: EdgeWeights, drop_prob: float = 0.0) -> torch.Tensor:
        if self.fast_paths:
            return fused_cell_forward(self, s0, s1, weights, drop_prob)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        recompute = self.checkpoint_edges and recomputes(self)
        e = 0
        for _ in range(self.steps):
            total = None
            for h in states:
                edge = self.edges[e]
                y = checkpointed(edge, h, weights, e, modules=[edge]) if recompute else edge(h, weights, e)
                if drop_prob > 0.0 and self.training:  # SNAS: drop-path on every edge's mixed output
                    y = drop_path(y, drop_prob)
                total = y if total is None else total + y
                e += 1
            states.append(total)
        return torch.cat(states[-self.multiplier:], dim=1)


class EvalCell(nn.Module):
    """The cell of a genotype: node i sums ``op(state[j])`` over its ``(op, j)`` entries."""

    def __init__(self, *, nodes: list[list[tuple[str, int]]], concat: Sequence[int], c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool, pool_bn: bool = False) -> None:
        super().__init__()
        self.reduction, self.concat = reduction, tuple(concat)
        self.preprocess0, self.preprocess1 = _preprocess(c_pp, c_p, c, reduction_prev, True, True)
        self.inputs = [[j for _, j in pairs] for pairs in nodes]
        self.ops = nn.ModuleList(
            nn.ModuleList(make_op(op, c, 2 if reduction and j < 2 else 1, affine=True, pool_bn=pool_bn) for op, j in pairs)
            for pairs in nodes
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for ops, inputs in zip(self.ops, self.inputs):
            total = None
            for op, j in zip(ops, inputs):
                if isinstance(op, Zero):
                    continue
                y = op(states[j])
                # DARTS model.py: drop-path on every op output except identities.
                if drop_prob > 0.0 and self.training and not isinstance(op, Identity):
                    y = drop_path(y, drop_prob)
                total = y if total is None else total + y
            if total is None:  # only `none` inputs (SNAS edge_all): the node is a zero tensor
                total = ops[0](states[inputs[0]])
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class GdasReductionCell(nn.Module):
    """GDAS' fixed reduction cell (spec §2.6); ignores edge weights, output 4C channels at half size."""

    def __init__(self, *, c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool, track: bool) -> None:
        super().__init__()
        self.reduction, self.multiplier = True, 4
        self.preprocess0, self.preprocess1 = _preprocess(c_pp, c_p, c, reduction_prev, affine, track)
        self.body = GdasReductionBranches(c, affine, track)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: EdgeWeights | None = None, drop_prob: float = 0.0) -> torch.Tensor:
        outs = self.body.branches(self.preprocess0(s0), self.preprocess1(s1))
        if drop_prob > 0.0 and self.training:
            outs = [drop_path(y, drop_prob) for y in outs]
        return torch.cat(outs, dim=1)
