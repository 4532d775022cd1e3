"""Contribution hooks of the NAS-Bench-201 space plugin: descriptors only, no torch."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas.api.arch import Genotype
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.encoding import format_ops, parse_ops


@hookimpl
def automl_register_search_spaces() -> list[Component]:
    return [
        Component(
            kind="search_space",
            name="nb201",
            impl="automl_nas_space_nb201.space:Nb201Space",
            config=Nb201Config,
            summary="NAS-Bench-201 cell space: 6 edges x 5 ops, 15,625 cells, one alpha shared by 3N cells",
        )
    ]


@hookimpl
def automl_parse_genotype(text: str) -> Genotype | None:
    """The canonical NB201 genotype of ``text``, or ``None`` when it is not an NB201 cell string."""
    try:
        ops = parse_ops(text)
    except ValueError:
        return None
    return Genotype("nb201", format_ops(ops))
