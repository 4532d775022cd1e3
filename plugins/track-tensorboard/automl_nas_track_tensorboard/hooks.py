"""Contribution hook of the TensorBoard tracker: the descriptor only, no torch or tensorboard import."""

from __future__ import annotations

import attrs

from automl_nas import Component, hookimpl

__all__ = ["TensorBoardConfig"]


@attrs.frozen(kw_only=True)
class TensorBoardConfig:
    log_dir: str = attrs.field(default="", metadata={"help": "event-file directory ('': <run dir>/tensorboard)"})
    step_every: int = attrs.field(default=1, validator=attrs.validators.ge(0),
                                  metadata={"help": "log step loss/acc/lr every N steps (0: epochs only)"})
    cell_px: int = attrs.field(default=16, validator=attrs.validators.gt(0),
                               metadata={"help": "pixels per (edge, op) cell of the alpha image"})


@hookimpl
def automl_register_trackers() -> list[Component]:
    return [Component(kind="tracker", name="tensorboard", impl="automl_nas_track_tensorboard.tracker:TensorBoardTracker",
                      config=TensorBoardConfig,
                      summary="TensorBoard event files in <run dir>/tensorboard: scalars, op probabilities per edge, alpha images, genotype")]
