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


@hookimpl
def automl_run_start(run) -> None:
    """Refuse a ``latency_table`` measured for another space, options or input size.

    Runs before the first epoch, when the space and the data shape are known; the error
    names the recipe key and the ``automl profile-ops`` command that regenerates the table.
    """
    from automl_nas.costs import check_run_cost_tables

    check_run_cost_tables(run)
