"""JSON that every parser reads: a non-finite float (NaN, +-inf) is written as ``null``.

Python's ``json`` writes ``NaN`` and ``Infinity``, which are not JSON: JavaScript's
``JSON.parse``, Go, serde and most dashboards refuse the whole file, and jq turns ``Infinity``
into 1.8e308. A run's numbers can be non-finite for honest reasons (an empty field of an
imported benchmark table, a proxy score that overflowed), so every record a run writes and
every JSON the CLI prints goes through :func:`dumps`. The typed readers
(:meth:`~automl_nas.records.schema.RunResult.from_json`,
:meth:`~automl_nas.records.schema.EpochRecord.from_json`) read a ``null`` number back as NaN.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

__all__ = ["dumps", "finite", "nan_if_none"]


def finite(obj: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``obj`` with every non-finite float replaced by ``None``, through dicts, lists and tuples;
    ``default`` converts what JSON cannot hold (a tensor, an array) first."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v, default) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v, default) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return finite(default(obj), None) if default is not None else obj


def dumps(obj: Any, *, default: Callable[[Any], Any] | None = None, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`finite` ``(obj)``; anything still not JSON raises, as ``json`` does."""
    return json.dumps(finite(obj, default), allow_nan=False, **kwargs)


def nan_if_none(value: Any) -> Any:
    """A number written as ``null`` (non-finite, see :func:`dumps`) read back as NaN."""
    return math.nan if value is None else value
