"""Contribution hooks of the data-graph plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_data_graph.config import GraphFileConfig, PygConfig, SbmConfig

_PKG = "automl_nas_data_graph"


@hookimpl
def automl_register_datasets() -> list[Component]:
    return [
        Component(kind="dataset", name="sbm", impl=f"{_PKG}.sbm:Sbm", config=SbmConfig,
                  summary="generated stochastic-block-model graph with a learnable class signal (no download)"),
        Component(kind="dataset", name="pyg", impl=f"{_PKG}.pyg:PygNodeSet", config=PygConfig,
                  summary="PyTorch Geometric node classification: Planetoid, Amazon, Coauthor (download = true)"),
        Component(kind="dataset", name="graph-file", impl=f"{_PKG}.files:GraphFile", config=GraphFileConfig,
                  summary="one graph from a local .npz (x, edge_index, y, masks) or PyG .pt file"),
    ]
