"""Contribution hook of the MLflow tracker: the descriptor only, no mlflow import."""

from __future__ import annotations

import attrs

from automl_nas import Component, hookimpl

__all__ = ["MlflowConfig"]


@attrs.frozen(kw_only=True)
class MlflowConfig:
    tracking_uri: str = attrs.field(default="", metadata={
        "help": "MLflow tracking URI ('': $MLFLOW_TRACKING_URI, else the file store <run dir>/mlruns)"})
    experiment: str = attrs.field(default="", metadata={"help": "experiment name ('': the recipe's name)"})
    step_every: int = attrs.field(default=10, validator=attrs.validators.ge(0),
                                  metadata={"help": "log step loss/acc/lr every N steps (0: epochs only)"})


@hookimpl
def automl_register_trackers() -> list[Component]:
    return [Component(kind="tracker", name="mlflow", impl="automl_nas_track_mlflow.tracker:MlflowTracker",
                      config=MlflowConfig,
                      summary="MLflow run (file store <run dir>/mlruns by default): params, metrics, alpha images, genotype")]
