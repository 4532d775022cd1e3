"""The benchmark's nine layer operations as PyTorch Geometric modules.

As in NAS-Bench-Graph's training code: ``gat`` = GATConv with 4 heads of
``hidden / 4`` channels, concatenated; ``gcn`` = GCNConv; ``gin`` = GINConv
over one linear layer; ``cheb`` = ChebConv with K = 2; ``sage`` = SAGEConv;
``arma`` = ARMAConv (1 stack, 1 layer); ``graph`` = GraphConv (k-GNN); ``fc`` =
a linear layer that ignores the edges; ``skip`` = identity. Every op maps
``hidden`` to ``hidden`` channels (a pre-processing layer brings the features to
that width, so ``skip`` is defined everywhere).

An op is called with ``(h, edge_index)`` as one argument, so that the host's
:class:`~automl_nas.nn.MixedOp` (``w_k * op_k(x)``) mixes them unchanged.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["GnnOp", "build_op", "import_pyg"]


def import_pyg():
    """``torch_geometric.nn``, imported without PyG's import-time notice that ``torch.jit.script``
    is deprecated (PyG 2.8 scripts a pooling helper when imported; nothing here uses it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
        from torch_geometric import nn as gnn
    return gnn


class GnnOp(nn.Module):
    """One layer operation; ``forward((h, edge_index))`` returns ``(N, hidden)``."""

    def __init__(self, name: str, conv: nn.Module | None) -> None:
        super().__init__()
        self.name, self.conv = name, conv

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        h, edge_index = inputs
        if self.conv is None:  # skip
            return h
        if self.name == "fc":
            return self.conv(h)
        return self.conv(h, edge_index)

    def extra_repr(self) -> str:
        return self.name


def build_op(name: str, hidden: int) -> GnnOp:
    """The op ``name`` at width ``hidden``; ``ValueError`` for an unknown name."""
    gnn = import_pyg()
    builders = {
        "gat": lambda: gnn.GATConv(hidden, hidden // 4, heads=4, concat=True),
        "gcn": lambda: gnn.GCNConv(hidden, hidden),
        "gin": lambda: gnn.GINConv(nn.Linear(hidden, hidden)),
        "cheb": lambda: gnn.ChebConv(hidden, hidden, K=2),
        "sage": lambda: gnn.SAGEConv(hidden, hidden),
        "arma": lambda: gnn.ARMAConv(hidden, hidden),
        "graph": lambda: gnn.GraphConv(hidden, hidden),
        "fc": lambda: nn.Linear(hidden, hidden),
        "skip": lambda: None,
    }
    if name not in builders:
        raise ValueError(f"unknown GNN op {name!r} (known: {', '.join(builders)})")
    return GnnOp(name, builders[name]())
