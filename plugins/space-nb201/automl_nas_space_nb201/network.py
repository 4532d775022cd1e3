"""NAS-Bench-201 networks: the weight-sharing supernet and the standalone network of one cell.

Source: AutoDL-Projects ``xautodl/models/cell_searchs/search_cells.py`` (NAS201SearchCell),
``search_model_darts.py`` / ``search_model_gdas.py`` (the search skeleton),
``xautodl/models/cell_infers/cells.py`` (InferCell) and ``tiny_network.py``; spec §1.2 and §1.4.

Both networks share one skeleton: ``stem -> N cells -> residual(C->2C) -> N cells ->
residual(2C->4C) -> N cells -> lastact (BN+ReLU) -> global_pool -> classifier``; the modules
carry the same names in both (``stem``, ``cells``, ``lastact``, ``global_pool``, ``classifier``),
so a supernet's weights can be copied into a standalone network key by key. Node ``i`` of a
cell is the sum over ``j < i`` of edge ``(i, j)`` applied to node ``j``; the cell output is node 3.

Deviation: the standalone cell runs its ``none`` edges (zeros) instead of dropping them, which
is the same function and keeps the module tree identical for every genotype.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from automl_nas.api.arch import EdgeWeights
from automl_nas.api.space import InputSpec
from automl_nas.nn import MixedOp, PartialMixedOp
from automl_nas_space_nb201.encoding import EDGES, NUM_NODES, OPS
from automl_nas_space_nb201.fused import fused_cell_forward
from automl_nas_space_nb201.ops import ResidualBlock, build_op, make_head, make_stem

__all__ = ["InferCell", "Nb201Network", "Nb201Supernet", "SearchCell", "stage_layout"]

# For node i, the (edge index, input node) pairs that feed it, in edge order.
_NODE_INPUTS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple((e, j) for e, (i2, j) in enumerate(EDGES) if i2 == i) for i in range(1, NUM_NODES)
)


def stage_layout(channels: int, cells_per_stage: int) -> list[tuple[str, int, int]]:
    """The 3N + 2 blocks in order as ``(kind, c_in, c_out)``; kind is ``"cell"`` or ``"residual"``."""
    layout: list[tuple[str, int, int]] = []
    for stage in range(3):
        c = channels * 2**stage
        if stage:
            layout.append(("residual", c // 2, c))
        layout.extend(("cell", c, c) for _ in range(cells_per_stage))
    return layout


class SearchCell(nn.Module):
    """A search cell: every edge a mixed op over the five ops; called as ``cell(x, weights)``.

    ``fast_paths`` (default on) runs :func:`~automl_nas_space_nb201.fused.fused_cell_forward`,
    the same function computed per source node with grouped convolutions; off, the plain
    per-edge mixed ops run (the reference the equality tests compare against).
    """

    fast_paths = True

    def __init__(self, channels: int, *, affine: bool, track_running_stats: bool, partial_channels: int = 1) -> None:
        super().__init__()
        k = partial_channels
        edges = []
        for _ in EDGES:
            ops = [build_op(name, channels // k, affine=affine, track_running_stats=track_running_stats) for name in OPS]
            edges.append(MixedOp(ops) if k == 1 else PartialMixedOp(MixedOp(ops), k))
        self.edges = nn.ModuleList(edges)

    def forward(self, x: torch.Tensor, weights: EdgeWeights) -> torch.Tensor:
        if self.fast_paths:
            return fused_cell_forward(self.edges, x, weights)
        nodes = [x]
        for inputs in _NODE_INPUTS:
            out = None
            for e, j in inputs:
                y = self.edges[e](nodes[j], weights, e)
                out = y if out is None else out + y
            nodes.append(out)
        return nodes[-1]


class InferCell(nn.Module):
    """A standalone cell: edge ``e`` is only op ``ops[e]``, with affine, tracked BN."""

    def __init__(self, channels: int, ops: tuple[int, ...]) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleList(
            build_op(OPS[k], channels, affine=True, track_running_stats=True) for k in self.ops
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for inputs in _NODE_INPUTS:
            nodes.append(sum(self.edges[e](nodes[j]) for e, j in inputs))
        return nodes[-1]


class _Skeleton(nn.Module):
    """Stem, 3 stages of cells with 2 residual blocks between them, and the head."""

    def __init__(self, channels: int, cells_per_stage: int, inputs: InputSpec,
                 make_cell: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.stem = make_stem(inputs.channels, channels)
        self.cells = nn.ModuleList(
            make_cell(c_out) if kind == "cell" else ResidualBlock(c_in, c_out)
            for kind, c_in, c_out in stage_layout(channels, cells_per_stage)
        )
        self.lastact, self.global_pool, self.classifier = make_head(4 * channels, inputs.num_classes)

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pool(self.lastact(x)).flatten(1))


class Nb201Supernet(_Skeleton):
    """The weight-sharing network, called as ``supernet(x, {"cell": EdgeWeights})``.

    All 3N search cells share the one ``"cell"`` arch group (spec §1.2). With ``fast_paths``
    on a CPU the activations are channels-last (measured 1.9x faster with oneDNN; issue 8),
    which changes memory layout only; on GPUs (unmeasured here) the layout stays the caller's.
    """

    fast_paths = True

    def __init__(self, channels: int, cells_per_stage: int, inputs: InputSpec, *, affine: bool = False,
                 track_running_stats: bool = False, partial_channels: int = 1) -> None:
        super().__init__(channels, cells_per_stage, inputs, lambda c: SearchCell(
            c, affine=affine, track_running_stats=track_running_stats, partial_channels=partial_channels))

    def forward(self, x: torch.Tensor, sample: dict[str, EdgeWeights]) -> torch.Tensor:
        weights = sample["cell"]
        if self.fast_paths and x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        for block in self.cells:
            x = block(x, weights) if isinstance(block, SearchCell) else block(x)
        return self._head(x)


class Nb201Network(_Skeleton):
    """The standalone (benchmark) network of one cell, repeated 3N times; ``net(x)`` -> logits."""

    def __init__(self, ops: tuple[int, ...], channels: int, cells_per_stage: int, inputs: InputSpec) -> None:
        genotype_ops = tuple(ops)
        super().__init__(channels, cells_per_stage, inputs, lambda c: InferCell(c, genotype_ops))
        self.genotype_ops = genotype_ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.cells:
            x = block(x)
        return self._head(x)
