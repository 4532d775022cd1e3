"""Contribution hooks of the GNN space plugin: descriptors only, no torch."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas.api.arch import Genotype
from automl_nas_space_gnn.config import GnnConfig, GnnTrainConfig
from automl_nas_space_gnn.encoding import format_arch, parse_arch


@hookimpl
def automl_register_search_spaces() -> list[Component]:
    return [
        Component(kind="search_space", name="gnn", impl="automl_nas_space_gnn.space:GnnSpace", config=GnnConfig,
                  summary="NAS-Bench-Graph macro space: 9 link patterns x 4 layers of 9 GNN ops (PyG), 26,206 distinct"),
    ]


@hookimpl
def automl_register_evaluators() -> list[Component]:
    return [
        Component(kind="evaluator", name="gnn-train", impl="automl_nas_space_gnn.train:GnnTrain", config=GnnTrainConfig,
                  summary="train a GNN genotype full-batch on the run's graph; test accuracy at the best validation step"),
    ]


@hookimpl
def automl_parse_genotype(text: str) -> Genotype | None:
    """The canonical GNN genotype of ``text``, or ``None`` when it is not one."""
    try:
        return Genotype("gnn", format_arch(*parse_arch(text)))
    except ValueError:
        return None
