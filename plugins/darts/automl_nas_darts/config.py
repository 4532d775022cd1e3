"""Options of the DARTS sampler (none: DARTS is deterministic; no torch import here)."""

from __future__ import annotations

import attrs

__all__ = ["DartsConfig"]


@attrs.frozen(kw_only=True)
class DartsConfig:
    """DARTS has no sampler options: first/second order, update order and the
    optimisers are engine settings of the recipe (``search.order``, ``search.mode``,
    ``[search.arch_optimizer]``), not properties of the distribution (spec §4)."""
