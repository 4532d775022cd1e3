"""NAS-Bench-201 search space plugin for automl-nas.

Importing the package imports no torch; the torch modules (``ops``, ``network``,
``space``) load only when the registry builds the space.
"""

from __future__ import annotations

from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.encoding import EDGE_LABELS, EDGES, NUM_ARCHS, OPS

__all__ = ["EDGES", "EDGE_LABELS", "NUM_ARCHS", "OPS", "Nb201Config"]
