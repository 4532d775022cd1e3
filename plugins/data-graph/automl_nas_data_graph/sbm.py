"""A generated stochastic-block-model graph for tests and quick profiles (no download).

``classes`` equal blocks; an edge joins two nodes of one block with probability
``p_in`` and of two blocks with ``p_out`` (undirected, no self loops). Features are
``signal * m_c + N(0, I)`` with class means ``m_c`` drawn once on the unit sphere:
one node's features say little about its class, its neighbourhood's average says
much, so message passing has a real, learnable advantage over a per-node MLP.
"""

from __future__ import annotations

import torch

from automl_nas.api import DatasetProvider, GraphSet
from automl_nas_data_graph.config import SbmConfig
from automl_nas_data_graph.splits import make_graphset, random_split

__all__ = ["Sbm", "generate_sbm"]


def generate_sbm(cfg: SbmConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, edge_index, y)`` of the configured graph; a pure function of ``cfg``."""
    gen = torch.Generator().manual_seed(cfg.seed)
    y = torch.arange(cfg.nodes) % cfg.classes
    y = y[torch.randperm(cfg.nodes, generator=gen)]
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(cfg.p_in), torch.tensor(cfg.p_out))
    upper = torch.triu(torch.rand(cfg.nodes, cfg.nodes, generator=gen) < prob, diagonal=1)
    src, dst = upper.nonzero(as_tuple=True)
    edge_index = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    means = torch.nn.functional.normalize(torch.randn(cfg.classes, cfg.features, generator=gen), dim=1)
    x = cfg.signal * means[y] + torch.randn(cfg.nodes, cfg.features, generator=gen)
    return x, edge_index, y


class Sbm(DatasetProvider):
    """The ``sbm`` data set (options: :class:`SbmConfig`)."""

    name = "sbm"

    def __init__(self, config: SbmConfig | None = None) -> None:
        self.config = config or SbmConfig()

    def load(self) -> GraphSet:
        cfg = self.config
        x, edge_index, y = generate_sbm(cfg)
        splits = random_split(cfg.nodes, cfg.train_nodes, cfg.valid_nodes, cfg.seed + 1)
        source = f"generated sbm(nodes={cfg.nodes}, classes={cfg.classes}, p_in={cfg.p_in}, p_out={cfg.p_out}, seed={cfg.seed})"
        return make_graphset(self.name, x, edge_index, y, splits, source=source, where="sbm", fix="check the sbm options")
