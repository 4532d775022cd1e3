"""Macro CNN search space plugin (issue 18). Importing the package imports no torch."""

from __future__ import annotations

from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.genotype import MacroGenotype, format_macro, parse_macro

__all__ = ["MacroConfig", "MacroGenotype", "format_macro", "parse_macro"]
