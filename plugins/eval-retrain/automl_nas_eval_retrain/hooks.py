"""Contribution hooks of the eval-retrain plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_eval_retrain.config import RetrainConfig


@hookimpl
def automl_register_evaluators() -> list[Component]:
    return [
        Component(kind="evaluator", name="retrain", impl="automl_nas_eval_retrain.evaluator:Retrain",
                  config=RetrainConfig,
                  summary="train the genotype's network from scratch (NB201 / DARTS presets), report test accuracy"),
    ]
