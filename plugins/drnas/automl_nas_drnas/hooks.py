"""Contribution hooks of the DrNAS plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl

from automl_nas_drnas.config import DrnasConfig


@hookimpl
def automl_register_samplers() -> list[Component]:
    return [
        Component(
            kind="sampler",
            name="drnas",
            impl="automl_nas_drnas.sampler:DrnasSampler",
            config=DrnasConfig,
            summary="DrNAS: Dirichlet(ELU(eta) + 1) op weights, optional progressive prune + widen (Chen et al., ICLR 2021)",
        )
    ]
