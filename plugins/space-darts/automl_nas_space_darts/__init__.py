"""The DARTS cell search space as an automl-nas plugin (spec: docs/algorithms.md §2).

Importing this package imports no torch; the torch modules (``ops``, ``cells``,
``network``, ``costs``, ``space``) load when the space is built.
"""

from __future__ import annotations

from automl_nas_space_darts.config import DARTS_OPS, DARTS_OPS_NO_NONE, DartsConfig
from automl_nas_space_darts.genotype import DartsGenotype, format_genotype, parse_genotype

__all__ = [
    "DARTS_OPS",
    "DARTS_OPS_NO_NONE",
    "DartsConfig",
    "DartsGenotype",
    "format_genotype",
    "parse_genotype",
]
