"""Contribution hooks of the macro space plugin: descriptors only, no torch."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas.api.arch import Genotype
from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.genotype import format_macro, parse_macro


@hookimpl
def automl_register_search_spaces() -> list[Component]:
    return [Component(kind="search_space", name="macro", impl="automl_nas_space_macro.space:MacroSpace", config=MacroConfig,
                      summary="macro CNN: a chain of conv/pool layers with widths and skips; deepen/widen/skip morphisms")]


@hookimpl
def automl_parse_genotype(text: str) -> Genotype | None:
    """The canonical macro genotype of ``text`` (``macro:c16,r,p,c32;0>1``), or ``None``."""
    if not text.startswith("macro:"):
        return None
    try:
        return Genotype("macro", format_macro(parse_macro(text)))
    except ValueError:
        return None
