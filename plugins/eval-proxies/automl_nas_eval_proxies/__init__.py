"""automl-nas zero-cost proxies: score an untrained network in one or two passes.

Importing this package imports no torch.
"""

from __future__ import annotations

__all__: list[str] = []
