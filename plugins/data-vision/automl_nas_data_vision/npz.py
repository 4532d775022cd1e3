"""Images from a user's ``.npz`` file (arrays ``x`` and ``y``).

``x`` is uint8 ``(N, C, H, W)`` or ``(N, H, W, C)``; it is taken as channels-last
when its last dimension is 1 or 3 and dimension 1 is not. Mean and std are
computed from the training images. ``test_fraction`` (default 0) holds out a
seeded random subset as the test set.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from automl_nas.api import DatasetProvider, ImageSet
from automl_nas.errors import DataError, missing_file
from automl_nas_data_vision.config import NpzConfig
from automl_nas_data_vision.splits import channel_stats, holdout

__all__ = ["NpzDataset", "to_channels_first"]


def to_channels_first(x: np.ndarray, layout: str = "auto") -> np.ndarray:
    """NCHW of ``x`` laid out as ``layout`` (``nchw``, ``nhwc``, or ``auto``: NHWC when the last
    axis is a channel count, 1, 3 or 4 (RGBA), and axis 1 is not; NCHW the other way round).
    ``ValueError`` when ``auto`` cannot tell: both could be the channels (4x4 RGB images were read
    as 4-channel 4x3 ones), or neither is 1, 3 or 4 (16x16 images of 8 bands were read as 16
    channels of 16x8)."""
    channels = (1, 3, 4)
    if layout == "auto":
        if x.shape[-1] in channels and x.shape[1] in channels:
            raise ValueError(f"x has shape {x.shape}: both axis 1 and the last axis could hold the channels")
        if x.shape[-1] not in channels and x.shape[1] not in channels:
            raise ValueError(f"x has shape {x.shape}: neither axis 1 nor the last axis holds 1, 3 or 4 channels, "
                             f"so which one holds them cannot be told")
        layout = "nhwc" if x.shape[-1] in channels else "nchw"
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "nhwc" else x


class NpzDataset(DatasetProvider):
    """The ``npz`` data set: ``path`` (required), ``test_fraction``, ``seed``."""

    name = "npz"

    def __init__(self, config: NpzConfig | None = None) -> None:
        self.config = config or NpzConfig()

    def load(self) -> ImageSet:
        if not self.config.path:
            raise DataError("npz: no file given", hint="set `path = ...` to a .npz file with arrays x and y")
        path = Path(self.config.path).expanduser()
        x, y = self._read(path)
        try:
            x = to_channels_first(x, self.config.layout)
        except ValueError as exc:
            raise DataError(f"npz: {path}: {exc}", hint='set data.layout = "nchw" (N, C, H, W) or "nhwc" '
                                                         '(N, H, W, C)') from None
        n = len(x)
        test_count = int(round(self.config.test_fraction * n))
        train_idx, test_idx = holdout(n, test_count, self.config.seed)
        if not len(train_idx):
            raise DataError(f"npz: {path}: data.test_fraction = {self.config.test_fraction} holds out all {n} images, "
                            f"leaving none to search on", hint="lower data.test_fraction or use a larger file")
        x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
        train_x, train_y = x_t[train_idx], y_t[train_idx]
        mean, std = channel_stats(train_x)
        num_classes = self._classes(path, y)
        side = min(x.shape[2], x.shape[3])
        return ImageSet(name=self.name, train_x=train_x, train_y=train_y, test_x=x_t[test_idx], test_y=y_t[test_idx],
                        mean=mean, std=std, num_classes=num_classes, crop_padding=max(1, side // 8),
                        source=str(path))

    def _read(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        fix = "set `path = ...` to a .npz file with arrays x (uint8, N x C x H x W or N x H x W x C) and y (int)"
        if not path.is_file():
            raise DataError(f"npz: {missing_file(path)}", hint=fix)
        if not zipfile.is_zipfile(path):  # np.load would read it as a pickle and talk of allow_pickle
            raise DataError(f"npz: {path} is truncated or not a .npz archive at all (a .npz is a zip of .npy arrays, "
                            f"what numpy.savez writes)", hint=fix)
        try:
            with np.load(path, allow_pickle=False) as archive:  # never unpickle a user's file
                keys = set(archive.files)
                if not {"x", "y"} <= keys:
                    raise DataError(f"npz: {path} has arrays {sorted(keys)} but needs 'x' and 'y'", hint=fix)
                x, y = archive["x"], archive["y"]
        except DataError:
            raise
        except ValueError as exc:
            if "allow_pickle" in str(exc):  # an intact file whose array holds Python objects
                raise DataError(f"npz: {path}: an array holds Python objects (dtype object), which are never "
                                f"unpickled from a data file", hint=fix) from None
            raise DataError(f"npz: {path} is truncated or not a .npz archive ({type(exc).__name__}: {exc})",
                            hint="re-create or re-copy the file") from exc
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"npz: {path} is truncated or not a .npz archive ({type(exc).__name__}: {exc})",
                            hint="re-create or re-copy the file") from exc
        if x.dtype != np.uint8:
            raise DataError(f"npz: {path}: x has dtype {x.dtype}, expected uint8 (0..255)", hint=fix)
        if x.ndim != 4:
            raise DataError(f"npz: {path}: x has shape {x.shape}, expected 4 dimensions (N, C, H, W) or (N, H, W, C)",
                            hint=fix)
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"npz: {path}: y has shape {y.shape} and dtype {y.dtype}, expected 1-d integers", hint=fix)
        if len(x) != len(y):
            raise DataError(f"npz: {path}: x has {len(x)} images but y has {len(y)} labels", hint=fix)
        if not len(x):
            raise DataError(f"npz: {path} holds no images (x has shape {x.shape})", hint=fix)
        if len(y) and int(y.min()) < 0:
            raise DataError(f"npz: {path}: y has negative labels", hint=fix)
        if len(y) and int(y.max()) > MAX_LABEL:  # uint64 codes past int64 wrapped negative when cast
            raise DataError(f"npz: {path}: y has label {int(y.max())}, not a class index (at most {MAX_LABEL:,})",
                            hint="remap the labels to the class indices 0..K-1")
        return x, y.astype(np.int64)

    def _classes(self, path: Path, y: np.ndarray) -> int:
        """The class count: declared (``num_classes``, every label below it) or counted, in which
        case the labels must be the class indices 0..K-1 (a stray code such as 255 would otherwise
        silently grow the classifier to 256 outputs)."""
        present = np.unique(y)
        declared = self.config.num_classes
        if declared:
            if len(present) and int(present[-1]) >= declared:
                raise DataError(f"npz: {path}: label {int(present[-1])} is not below data.num_classes = {declared}",
                                hint="fix the labels or the declared num_classes")
            return declared
        if len(present) and int(present[-1]) != len(present) - 1:
            top = int(present[-1])
            absent = top + 1 - len(present)  # counted, not listed: the top label may be in the millions
            shown = ", ".join(map(str, _first_absent(present, 8))) + (" ..." if absent > 8 else "")
            raise DataError(f"npz: {path}: the labels are not the class indices 0..K-1: they go up to {top} "
                            f"but {absent} of those values never occur ({shown})",
                            hint="remap the labels to 0..K-1, or declare the class count with data.num_classes = K "
                                 "when some classes are absent from this file")
        if len(present) < 2:  # a 1-output classifier learns nothing (loss 0, accuracy 100 %)
            raise DataError(f"npz: {path}: every label is {int(present[0]) if len(present) else 'absent'}; a "
                            f"classifier needs at least 2 classes", hint="use a file with images of 2 or more classes")
        return len(present)


#: The largest label a classifier head is built for (a million classes).
MAX_LABEL = 1_000_000


def _first_absent(present: np.ndarray, n: int) -> list[int]:
    """The first ``n`` values in ``0..present[-1]`` missing from the sorted unique ``present``."""
    out, expected = [], 0
    for value in present.tolist():
        while expected < value and len(out) < n:
            out.append(expected)
            expected += 1
        if len(out) == n:
            break
        expected = value + 1
    return out
