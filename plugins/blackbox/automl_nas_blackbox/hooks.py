"""Contribution hooks of the black-box plugin: descriptors only, no torch, no optuna."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_blackbox.config import MorphismConfig, ReaConfig, ReinforceConfig, TpeConfig

_PKG = "automl_nas_blackbox"


@hookimpl
def automl_register_proposers() -> list[Component]:
    return [
        Component(kind="proposer", name="random", impl=f"{_PKG}.random_search:RandomSearch",
                  summary="uniform random cells (NB201 'RS')"),
        Component(kind="proposer", name="rea", impl=f"{_PKG}.rea:RegularizedEvolution", config=ReaConfig,
                  summary="regularized (aging) evolution, Real et al. 2019, NB201 settings P=10 S=3"),
        Component(kind="proposer", name="reinforce", impl=f"{_PKG}.reinforce:Reinforce", config=ReinforceConfig,
                  summary="REINFORCE over per-edge categorical logits with a moving-average baseline"),
        Component(kind="proposer", name="tpe", impl=f"{_PKG}.tpe:TpeProposer", config=TpeConfig,
                  summary="Optuna TPE, one categorical per edge (needs optuna)"),
        Component(kind="proposer", name="morphism", impl=f"{_PKG}.morphism:MorphismSearch", config=MorphismConfig,
                  summary="Auto-Keras: network morphisms chosen by an edit-distance GP + UCB tree search (spaces with morphisms)"),
    ]
