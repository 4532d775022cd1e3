"""Read the data sets' python pickles without executing arbitrary code.

The CIFAR and ImageNet16 batches are dicts of lists, bytes and numpy arrays.
``pickle.load`` would import and call whatever a (tampered) file names, so the
unpickler only resolves the few numpy globals needed to rebuild arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def batch_pixels(raw: object, path: Path, *, fix: str) -> np.ndarray:
    """A batch's ``data`` as uint8. Other values were cast without a check: 300.7 became 44, and
    float images in [0, 1] almost all 0; integers within 0..255 (a list, say) are taken as they are."""
    data = np.asarray(raw)
    if data.dtype == np.uint8:
        return data
    if np.issubdtype(data.dtype, np.integer) and (not data.size or (int(data.min()) >= 0 and int(data.max()) <= 255)):
        return data.astype(np.uint8)
    shown = f", values {data.min()}..{data.max()}" if data.size and np.issubdtype(data.dtype, np.number) else ""
    raise DataError(f"{path}: data has dtype {data.dtype}{shown}, expected uint8 pixels (0..255)", hint=fix)


def batch_labels(raw: object, path: Path, *, fix: str) -> np.ndarray:
    """A batch's labels as int64. A cast truncated 3.7 to class 3 and met 'cat' as an internal error."""
    labels = np.asarray(raw)
    if np.issubdtype(labels.dtype, np.integer):
        return labels.astype(np.int64)
    if np.issubdtype(labels.dtype, np.floating) and bool(np.all(np.isfinite(labels))) and bool(np.all(labels == np.round(labels))):
        return labels.astype(np.int64)  # 3.0 is class 3
    flat = labels.reshape(-1)
    if np.issubdtype(labels.dtype, np.floating):  # the first that is not a whole number, not the first label
        flat = flat[~(np.isfinite(flat) & (flat == np.round(flat)))]
    shown = f" (e.g. {flat[0].item()!r})" if flat.size else ""
    raise DataError(f"{path}: labels have dtype {labels.dtype}{shown}, expected integer class indices", hint=fix)
