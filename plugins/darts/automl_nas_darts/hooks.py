"""Contribution hooks of the DARTS plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl

from automl_nas_darts.config import DartsConfig


@hookimpl
def automl_register_samplers() -> list[Component]:
    return [
        Component(
            kind="sampler",
            name="darts",
            impl="automl_nas_darts.sampler:DartsSampler",
            config=DartsConfig,
            summary="DARTS: every op weighted by softmax(alpha) (Liu et al., ICLR 2019)",
        )
    ]
