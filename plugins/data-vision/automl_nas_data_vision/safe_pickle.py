"""Read the data sets' python pickles without executing arbitrary code.

The CIFAR and ImageNet16 batches are dicts of lists, bytes and numpy arrays.
``pickle.load`` would import and call whatever a (tampered) file names, so the
unpickler only resolves the few numpy globals needed to rebuild arrays.
"""

from __future__ import annotations

from pathlib import Path

from automl_nas.errors import DataError
from automl_nas.safe_pickle import NUMPY_ARRAYS, restricted_load

_ALLOWED = NUMPY_ARRAYS | {
    ("collections", "OrderedDict"),
    # protocol-2 pickles written by Python 3 rebuild ``bytes`` through this (a pure str -> bytes encode).
    ("_codecs", "encode"),
}


def load_batch(path: Path, *, fix: str) -> dict:
    """Unpickle one batch file (latin1, like the official readers); ``fix`` goes into errors."""
    try:
        with open(path, "rb") as fh:
            obj = restricted_load(fh, _ALLOWED, what="a data batch", encoding="latin1")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found", hint=fix) from None
    except Exception as exc:  # truncated, corrupt or hostile: all mean "not a usable batch"
        raise DataError(f"{path}: not a readable python pickle batch ({type(exc).__name__}: {exc})", hint=fix) from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}", hint=fix)
    return obj
