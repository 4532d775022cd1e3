"""Graph data sets for automl-nas (node classification on one graph)."""

from __future__ import annotations
