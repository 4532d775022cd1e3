"""Contribution hooks of the SNAS plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl

from automl_nas_snas.config import SnasConfig, SnasResourceConfig


@hookimpl
def automl_register_samplers() -> list[Component]:
    return [
        Component(
            kind="sampler",
            name="snas",
            impl="automl_nas_snas.sampler:SnasSampler",
            config=SnasConfig,
            summary="SNAS: soft Gumbel-softmax sample of every edge, annealed temperature (Xie et al., ICLR 2019)",
        )
    ]


@hookimpl
def automl_register_objectives() -> list[Component]:
    return [
        Component(
            kind="objective",
            name="snas_resource",
            impl="automl_nas_snas.resource:SnasResource",
            config=SnasResourceConfig,
            summary="SNAS resource constraint: per-edge params/FLOPs/MAC cost of the sample (architecture loss only)",
        )
    ]

