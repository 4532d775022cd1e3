"""Contribution hooks of the GDAS plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl

from automl_nas_gdas.config import GdasConfig


@hookimpl
def automl_register_samplers() -> list[Component]:
    return [
        Component(
            kind="sampler",
            name="gdas",
            impl="automl_nas_gdas.sampler:GdasSampler",
            config=GdasConfig,
            summary="GDAS: one op per edge by straight-through hard Gumbel-softmax (Dong & Yang, CVPR 2019)",
        )
    ]
