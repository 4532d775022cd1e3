"""Read NAS-Bench-Graph's ``.bench`` tables without executing code from them.

A table is a pickled ``dict`` from the architecture hash (``int``, see
:func:`automl_nas_space_gnn.encoding.benchmark_hash`) to ``{"valid_perf": float,
"perf": float, "latency": float, "para": numpy.float64}`` (performance as a
fraction: accuracy, ROC-AUC on ogbn-proteins; latency in seconds of one
full-graph inference; parameters in millions). ``pickle.load`` would import and
call whatever a tampered file names; this unpickler resolves only numpy's scalar
constructor and ``numpy.dtype``, the two globals the files use.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from automl_nas import DataError
from automl_nas.safe_pickle import restricted_load

__all__ = ["Entry", "bench_dir", "load_table", "read_table"]

# The tables hold numpy scalars (numpy 1 and 2 module names).
_ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")}
_KEYS = ("valid_perf", "perf", "latency", "para")
Entry = dict  # {"valid_perf", "perf", "latency", "para"}: floats


def bench_dir() -> Path:
    """The ``light/`` folder of the installed nas-bench-graph package (found without importing it)."""
    spec = importlib.util.find_spec("nas_bench_graph")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the nas-bench-graph package is not installed, so its tables cannot be read",
                        hint="pip install nas-bench-graph==1.4.0 (bash scripts/setup.sh does), or set the evaluator's "
                             "`path` to a folder of <dataset>.bench files")
    return Path(list(spec.submodule_search_locations)[0]) / "light"


def read_table(path: str | Path) -> dict[int, Entry]:
    """``{hash: {metric: float}}`` of one ``.bench`` file; ``DataError`` naming the file otherwise."""
    path = Path(path)
    fix = "reinstall nas-bench-graph==1.4.0 (its light/<dataset>.bench files) or point `path` at intact copies"
    try:
        with open(path, "rb") as fh:
            raw = restricted_load(fh, _ALLOWED, what="a NAS-Bench-Graph table")
    except FileNotFoundError:
        raise DataError(f"{path}: NAS-Bench-Graph table not found", hint=fix) from None
    except Exception as exc:  # truncated, corrupt or hostile: none is a usable table
        raise DataError(f"{path}: not a readable NAS-Bench-Graph table ({type(exc).__name__}: {exc})", hint=fix) from exc
    if not isinstance(raw, dict) or not raw:
        raise DataError(f"{path}: expected a non-empty dict of architectures, got {type(raw).__name__}", hint=fix)
    table: dict[int, Entry] = {}
    for key, entry in raw.items():
        if not isinstance(key, int) or not isinstance(entry, dict) or not set(_KEYS) <= set(entry):
            raise DataError(f"{path}: entry {key!r} is not {{hash: {{{', '.join(_KEYS)}}}}}", hint=fix)
        table[key] = {k: float(entry[k]) for k in _KEYS}
    return table


@functools.lru_cache(maxsize=16)
def load_table(directory: str, dataset: str) -> dict[int, Entry]:
    """The table of ``dataset`` in ``directory`` (default: the package's), read once per process."""
    return read_table(Path(directory or bench_dir()) / f"{dataset}.bench")
