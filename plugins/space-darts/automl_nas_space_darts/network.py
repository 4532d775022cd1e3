"""The DARTS search supernet and the evaluation network of a genotype (spec §2.3, §2.4).

Follows DARTS ``model_search.py`` (Network) and ``model.py`` (NetworkCIFAR, AuxiliaryHeadCIFAR)
from SNAS-Series ``Analysis/darts/cnn``; ``layout="gdas"`` adds AutoDL-Projects' head BN+ReLU
(``search_model_gdas_nasnet.py``; its N, red, N-1, red, N-1 layout puts the reductions at the
same indices L//3 and 2L//3 when L = 3N). Deviation: the auxiliary head's final conv uses the
pooled size as kernel (per axis), which is DARTS' 2x2 for CIFAR (8x8 input) and keeps other sizes,
non-square ones included, building.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from automl_nas.api.arch import EdgeWeights

from automl_nas_space_darts.cells import EvalCell, GdasReductionCell, SearchCell
from automl_nas_space_darts.checkpointing import CHECKPOINTING, checkpointed, recomputes
from automl_nas_space_darts.genotype import DartsGenotype

__all__ = ["AuxiliaryHead", "DartsNetwork", "DartsSupernet", "cell_plan"]


def cell_plan(layers: int, channels: int) -> list[tuple[int, bool]]:
    """``(C, is_reduction)`` per cell: reductions at L//3 and 2L//3 double C (spec §2.3)."""
    plan, c = [], channels
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = c * 2 if reduction else c
        plan.append((c, reduction))
    return plan


def _stem(in_channels: int, c: int) -> nn.Sequential:
    # Stem BN stays affine and tracked in every reference code (spec §11.2).
    return nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))


class DartsSupernet(nn.Module):
    """Weight-sharing supernet called as ``supernet(x, sample)``.

    ``sample`` maps ``"normal"`` (and ``"reduce"`` unless the reduction cell is GDAS' fixed one)
    to :class:`~automl_nas.api.EdgeWeights` shared by all cells of the type. ``drop_path`` is the
    probability applied to every edge's mixed output in training mode (SNAS searches with 0.3).
    ``fast_paths`` (on by default) runs the cells' fused forward, on channels-last tensors on CPU;
    ``checkpointing`` (issue 8, the memory option) recomputes activations in backward instead of
    keeping them: ``"cells"`` keeps only each cell's inputs, ``"edges"`` each edge's mixed output.
    """

    def __init__(self, *, channels: int, num_classes: int, layers: int, steps: int = 4, multiplier: int = 4,
                 stem_multiplier: int = 3, ops: Sequence[str], affine: bool = False, track: bool = False,
                 partial_channels: int = 1, reduction: str = "searched", layout: str = "darts", in_channels: int = 3,
                 pool_bn: bool = True) -> None:
        super().__init__()
        self.drop_path = 0.0
        self.fast_paths = True  # channels-last activations on CPU (with the cells' fused forward; issue 8)
        c_curr = stem_multiplier * channels
        self.stem = _stem(in_channels, c_curr)
        c_pp, c_p, reduction_prev = c_curr, c_curr, False
        self.cells = nn.ModuleList()
        for c, red in cell_plan(layers, channels):
            if red and reduction == "gdas_frc":
                cell = GdasReductionCell(c_pp=c_pp, c_p=c_p, c=c, reduction_prev=reduction_prev, affine=affine, track=track)
                out = 4 * c
            else:
                cell = SearchCell(steps=steps, multiplier=multiplier, c_pp=c_pp, c_p=c_p, c=c, reduction=red,
                                  reduction_prev=reduction_prev, ops=ops, affine=affine, track=track,
                                  partial_channels=partial_channels, pool_bn=pool_bn)
                out = multiplier * c
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, out, red
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_p), nn.ReLU(inplace=False)) if layout == "gdas" else nn.Identity()
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        self.checkpointing = "off"

    @property
    def checkpointing(self) -> str:
        return self._checkpointing

    @checkpointing.setter
    def checkpointing(self, mode: str) -> None:
        if mode not in CHECKPOINTING:
            raise ValueError(f"checkpointing must be one of {CHECKPOINTING}, got {mode!r}")
        self._checkpointing = mode
        for cell in self.cells:
            if isinstance(cell, SearchCell):
                cell.checkpoint_edges = mode == "edges"

    def forward(self, x: torch.Tensor, sample: dict[str, EdgeWeights]) -> torch.Tensor:
        if self.fast_paths and x.device.type == "cpu":
            # oneDNN's convs, pools and BN are ~2x faster on channels-last tensors (not measured on GPUs)
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        per_cell = self._checkpointing == "cells" and recomputes(self)
        for cell in self.cells:
            weights = sample.get("reduce") if cell.reduction else sample["normal"]
            if per_cell:
                out = checkpointed(cell, s0, s1, weights, self.drop_path, modules=[cell])
            else:
                out = cell(s0, s1, weights, self.drop_path)
            s0, s1 = s1, out
        out = self.global_pooling(self.lastact(s1))
        return self.classifier(out.flatten(1))


class AuxiliaryHead(nn.Module):
    """DARTS' CIFAR auxiliary head: ReLU, AvgPool 5/3, Conv1x1->128, BN, ReLU, Conv->768, BN, ReLU, Linear."""

    def __init__(self, c: int, num_classes: int, side: int | tuple[int, int] = 8) -> None:
        super().__init__()
        size = (side, side) if isinstance(side, int) else tuple(side)
        k = tuple(5 if s >= 5 else s for s in size)  # per axis: a non-square map (24x40 images) built a wrong head
        pooled = tuple((s - ks) // 3 + 1 for s, ks in zip(size, k))
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(k, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, pooled, bias=False),  # 2x2 for the CIFAR 8x8 input
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """Standalone network of a genotype (DARTS NetworkCIFAR).

    ``net(x)`` returns ``(logits, aux_logits)`` in training mode with an auxiliary head, else
    logits. The trainer sets ``drop_path_prob`` each epoch (DARTS: ``0.2 * epoch / epochs``;
    ``drop_path_max`` holds the configured final value). ``reduce=[]`` genotypes use GDAS'
    fixed reduction cell.
    """

    def __init__(self, genotype: DartsGenotype, *, channels: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, stem_multiplier: int = 3, steps: int = 4, pool_bn: bool = False,
                 in_channels: int = 3, input_size: int | tuple[int, int] = 32, drop_path_max: float = 0.2) -> None:
        super().__init__()
        self.drop_path_prob, self.drop_path_max = 0.0, drop_path_max
        self.aux_index = 2 * layers // 3
        c_curr = stem_multiplier * channels
        self.stem = _stem(in_channels, c_curr)
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)  # (height, width)
        c_pp, c_p, reduction_prev = c_curr, c_curr, False
        self.cells = nn.ModuleList()
        self.auxiliary_head = None
        for i, (c, red) in enumerate(cell_plan(layers, channels)):
            size = tuple((s + 1) // 2 for s in size) if red else size
            if red and genotype.fixed_reduction:
                cell = GdasReductionCell(c_pp=c_pp, c_p=c_p, c=c, reduction_prev=reduction_prev, affine=True, track=True)
                out = 4 * c
            else:
                kind = "reduce" if red else "normal"
                concat = genotype.reduce_concat if red else genotype.normal_concat
                cell = EvalCell(nodes=genotype.nodes(kind, steps), concat=concat, c_pp=c_pp, c_p=c_p, c=c,
                                reduction=red, reduction_prev=reduction_prev, pool_bn=pool_bn)
                out = len(concat) * c
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, out, red
            if auxiliary and i == self.aux_index:
                self.auxiliary_head = AuxiliaryHead(c_p, num_classes, size)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob=self.drop_path_prob)
            if i == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, aux) if aux is not None else logits
