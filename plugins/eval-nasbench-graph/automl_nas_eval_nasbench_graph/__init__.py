"""NAS-Bench-Graph tables as an automl-nas evaluator."""

from __future__ import annotations
