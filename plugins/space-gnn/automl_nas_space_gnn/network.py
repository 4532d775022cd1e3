"""The weight-sharing supernet and the standalone network of the GNN macro space.

Both follow NAS-Bench-Graph's model with one pre-processing layer and no
post-processing layer: dropout on the features, a linear stem to ``hidden``
channels (node 0); computing node ``i + 1`` is ``op_i(dropout(relu(bn_i(node[link[i]]))))``;
the leaves (nodes no other node reads) are concatenated, passed through ReLU and
a linear classifier. Networks return the logits of ``graph.index`` only.

Supernet: layer ``i`` is a host :class:`~automl_nas.nn.MixedOp` over the
ops, weighted by row ``i`` of group ``"layers"``; the link pattern is a MixedOp
over nine pattern heads (one classifier each, as the leaves' width differs per
pattern), weighted by the one row of group ``"link"``. A node's value depends
only on the link prefix above it, so the nine patterns share 1 + 2 + 4 + 9 = 16
mixed-layer evaluations per forward instead of 36; a hard sample (GDAS) runs only
its pattern's four layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from automl_nas.api import GraphBatch
from automl_nas.nn import MixedOp
from automl_nas_space_gnn.encoding import LINKS, NUM_LAYERS, leaves
from automl_nas_space_gnn.ops import build_op

__all__ = ["GnnNetwork", "GnnSupernet", "LAYERS", "LINK"]

LAYERS, LINK = "layers", "link"


class _Body(nn.Module):
    """Stem and per-layer input normalisation shared by both networks."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.stem = nn.Linear(in_dim, hidden)
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(NUM_LAYERS))

    def start(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(F.dropout(x, p=self.dropout, training=self.training))

    def layer_input(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return F.dropout(F.relu(self.norms[layer](h)), p=self.dropout, training=self.training)


class _Head(nn.Module):
    """ReLU of the concatenated leaves, then a linear classifier, on the rows of ``index``."""

    def __init__(self, link: tuple[int, ...], hidden: int, num_classes: int) -> None:
        super().__init__()
        self.link, self.leaves = link, leaves(link)
        self.classifier = nn.Linear(len(self.leaves) * hidden, num_classes)

    def forward(self, nodes: "_Nodes") -> torch.Tensor:
        feats = torch.cat([nodes.get(self.link, j) for j in self.leaves], dim=1)[nodes.index]
        return self.classifier(F.relu(feats))


class _Nodes:
    """The node values of one supernet forward, computed on demand and shared by link prefix."""

    def __init__(self, net: GnnSupernet, graph: GraphBatch, weights) -> None:
        self.net, self.edge_index, self.index, self.weights = net, graph.edge_index, graph.index, weights
        self.cache: dict[tuple[int, ...], torch.Tensor] = {(): net.body.start(graph.x)}

    def get(self, link: tuple[int, ...], j: int) -> torch.Tensor:
        key = link[:j]
        if key not in self.cache:
            layer = j - 1
            h = self.net.body.layer_input(layer, self.get(link, link[layer]))
            self.cache[key] = self.net.layers[layer]((h, self.edge_index), self.weights, layer)
        return self.cache[key]


class GnnSupernet(nn.Module):
    """``supernet(graph, sample)``: ``sample["layers"]`` (4 x ops) and ``sample["link"]`` (1 x 9)."""

    def __init__(self, in_dim: int, num_classes: int, *, hidden: int, dropout: float, ops: tuple[str, ...]) -> None:
        super().__init__()
        self.body = _Body(in_dim, hidden, dropout)
        self.layers = nn.ModuleList(MixedOp([build_op(op, hidden) for op in ops]) for _ in range(NUM_LAYERS))
        self.heads = MixedOp([_Head(link, hidden, num_classes) for link in LINKS])

    def forward(self, graph: GraphBatch, sample: dict) -> torch.Tensor:
        return self.heads(_Nodes(self, graph, sample[LAYERS]), sample[LINK], 0)


class GnnNetwork(nn.Module):
    """The standalone network of ``(link, ops)``: ``net(graph)`` -> logits of ``graph.index``."""

    def __init__(self, link: tuple[int, ...], ops: tuple[str, ...], in_dim: int, num_classes: int, *,
                 hidden: int, dropout: float) -> None:
        super().__init__()
        self.link = tuple(link)
        self.body = _Body(in_dim, hidden, dropout)
        self.layers = nn.ModuleList(build_op(op, hidden) for op in ops)
        self.head = _Head(self.link, hidden, num_classes)

    def forward(self, graph: GraphBatch) -> torch.Tensor:
        values = [self.body.start(graph.x)]
        for layer, src in enumerate(self.link):
            h = self.body.layer_input(layer, values[src])
            values.append(self.layers[layer]((h, graph.edge_index)))
        feats = torch.cat([values[j] for j in self.head.leaves], dim=1)[graph.index]
        return self.head.classifier(F.relu(feats))
