"""Contribution hooks of the uniform sampler plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl

from automl_nas_uniform.config import UniformConfig


@hookimpl
def automl_register_samplers() -> list[Component]:
    return [
        Component(
            kind="sampler",
            name="uniform",
            impl="automl_nas_uniform.sampler:UniformSampler",
            config=UniformConfig,
            summary="single path per step, uniform over ops, nothing to learn; best scored path is the genotype (Guo et al., 2020)",
        )
    ]
