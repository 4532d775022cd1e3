"""Read the data sets' python pickles without executing arbitrary code.

The CIFAR and ImageNet16 batches are dicts of lists, bytes and numpy arrays.
``pickle.load`` would import and call whatever a (tampered) file names, so the
unpickler only resolves the few numpy globals needed to rebuild arrays.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from automl_nas.errors import DataError

# numpy moved ``core`` to ``_core`` in 2.0; pickles name either.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    # protocol-2 pickles written by Python 3 rebuild ``bytes`` through this (a pure str -> bytes encode).
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a data batch")


def load_batch(path: Path, *, fix: str) -> dict:
    """Unpickle one batch file (latin1, like the official readers); ``fix`` goes into errors."""
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found", hint=fix) from None
    except Exception as exc:  # truncated, corrupt or hostile: all mean "not a usable batch"
        raise DataError(f"{path}: not a readable python pickle batch ({type(exc).__name__}: {exc})", hint=fix) from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}", hint=fix)
    return obj
