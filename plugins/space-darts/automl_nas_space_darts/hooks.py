"""Hook implementations of the ``space-darts`` plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas.api.arch import Genotype

from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.genotype import format_genotype, parse_genotype


@hookimpl
def automl_register_search_spaces() -> list[Component]:
    return [
        Component(
            kind="search_space",
            name="darts",
            impl="automl_nas_space_darts.space:DartsSpace",
            config=DartsConfig,
            summary="DARTS cell space: normal + reduction cells, 14 edges x 8 ops (DARTS/SNAS/GDAS/DrNAS variants)",
        )
    ]


@hookimpl
def automl_parse_genotype(text: str) -> Genotype | None:
    """Recognise DARTS ``Genotype(normal=..., ...)`` text; ``None`` for anything else."""
    if "normal" not in text or "reduce" not in text:
        return None
    try:
        return Genotype("darts", format_genotype(parse_genotype(text)))
    except ValueError:
        return None
