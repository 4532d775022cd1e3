"""automl-nas evaluators that look genotypes up in benchmark tables.

Importing this package imports no torch and reads no file.
"""

from __future__ import annotations

__all__: list[str] = []
