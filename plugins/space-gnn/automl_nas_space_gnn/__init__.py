"""NAS-Bench-Graph GNN macro space plugin for automl-nas.

Importing the package imports no torch; the torch modules (``ops``, ``network``,
``space``, ``train``) load only when the registry builds a component.
"""

from __future__ import annotations

from automl_nas_space_gnn.config import GnnConfig
from automl_nas_space_gnn.encoding import LINKS, OPS, PROTEINS_OPS, benchmark_hash

__all__ = ["LINKS", "OPS", "PROTEINS_OPS", "GnnConfig", "benchmark_hash"]
