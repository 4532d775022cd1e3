"""Contribution hook of the W&B tracker: the descriptor only, no wandb import."""

from __future__ import annotations

import attrs

from automl_nas import Component, hookimpl

__all__ = ["WandbConfig"]


@attrs.frozen(kw_only=True)
class WandbConfig:
    mode: str = attrs.field(default="", validator=attrs.validators.in_(("", "offline", "online", "disabled")),
                            metadata={"help": "'' ($WANDB_MODE, else offline: no account, no network), offline, online, disabled"})
    project: str = attrs.field(default="", metadata={"help": "W&B project ('': $WANDB_PROJECT, else the recipe's name)"})
    step_every: int = attrs.field(default=10, validator=attrs.validators.ge(0),
                                  metadata={"help": "log step loss/acc/lr every N steps (0: epochs only)"})


@hookimpl
def automl_register_trackers() -> list[Component]:
    return [Component(kind="tracker", name="wandb", impl="automl_nas_track_wandb.tracker:WandbTracker", config=WandbConfig,
                      summary="Weights & Biases run (offline by default, in <run dir>/wandb): metrics, alpha images, genotype")]
