"""Data sets: uint8 images in memory, with normalisation constants."""

from __future__ import annotations

import abc
from typing import Any

import attrs


@attrs.define(kw_only=True)
class ImageSet:
    """A labelled image data set held in memory.

    Attributes:
        name: the data-set name as the recipe gave it (recorded with the run).
        train_x, train_y: uint8 ``(N, C, H, W)`` and int64 ``(N,)`` tensors.
        test_x, test_y: the held-out test set (never used during search), may be empty.
        mean, std: per-channel normalisation in ``[0, 1]`` units.
        num_classes: number of labels.
        crop_padding: padding of the random-crop augmentation (4 for 32 px, 2 for 16 px).
        search_split: optional ``(train_idx, valid_idx)`` fixed by the data set
            (e.g. a benchmark's official split); otherwise the host splits.
        eval_split: optional ``(valid_idx, test_idx)`` into the test set
            (NAS-Bench-201's xvalid/xtest halves).
        source: where the data came from (path or package), for the run record.
    """

    name: str
    train_x: Any
    train_y: Any
    test_x: Any
    test_y: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    crop_padding: int = 4
    search_split: Any = None
    eval_split: Any = None
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


class DatasetProvider(abc.ABC):
    """Loads one data set. Must raise :class:`~automl_nas.errors.DataError` naming
    the expected files and the option that fixes it when data is missing."""

    name: str = ""

    @abc.abstractmethod
    def load(self) -> ImageSet:
        """Read (and, when allowed, download) the data."""
