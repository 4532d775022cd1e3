"""ImageNet16-120: NAS-Bench-201's 16x16 down-sampled ImageNet, labels 1..120.

Source: Chrabaszcz et al. (2017), "A Downsampled Variant of ImageNet as an
Alternative to the CIFAR datasets", arXiv:1707.08819; reader follows
AutoDL-Projects ``xautodl/datasets/DownsampledImageNet.py`` (files
``train_data_batch_1..10`` and ``val_data``, rows of 768 bytes = 3x16x16 planes,
labels 1-based, keep ``1 <= label <= 120`` and subtract 1). Mean/std and
crop padding 2 from spec §1.6.

Deviation: the official xvalid/xtest halves come from
``imagenet-16-120-test-split.txt`` (not shipped); ``eval_split`` is a seeded
random halving of the validation set (``split_seed``) of the same sizes.
"""

from __future__ import annotations

import numpy as np
import torch

from automl_nas.api import DatasetProvider, ImageSet
from automl_nas.benchstore import data_dir
from automl_nas.errors import DataError
from automl_nas_data_vision.config import ImageNet16Config
from automl_nas_data_vision.safe_pickle import batch_labels, batch_pixels, load_batch
from automl_nas_data_vision.splits import halves

__all__ = ["ImageNet16"]

TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
VALID_FILES = ("val_data",)


class ImageNet16(DatasetProvider):
    """16x16 ImageNet restricted to the first ``num_classes`` labels (120 by default)."""

    name = "imagenet16-120"

    def __init__(self, config: ImageNet16Config | None = None) -> None:
        self.config = config or ImageNet16Config()
        self.root = data_dir(self.config.root)

    def load(self) -> ImageSet:
        missing = [f for f in TRAIN_FILES + VALID_FILES if not (self.root / f).is_file()]
        if missing:
            raise DataError(
                f"{self.name}: expected the down-sampled batches in {self.root} but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing "
                f"(there is no automatic download)",
                hint="download Imagenet16 (the NAS-Bench-201 format) and set `root = ...` to its directory",
            )
        train_x, train_y = self._read(TRAIN_FILES)
        test_x, test_y = self._read(VALID_FILES)
        return ImageSet(name=self.name, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                        mean=(122.68 / 255, 116.66 / 255, 104.01 / 255),
                        std=(63.22 / 255, 61.26 / 255, 65.09 / 255),
                        num_classes=self.config.num_classes, crop_padding=2, search_split=None,
                        eval_split=halves(len(test_y), self.config.split_seed), source=str(self.root))

    def _read(self, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        fix = f"replace the damaged file in {self.root} with a fresh copy"
        for name in files:
            path = self.root / name
            batch = load_batch(path, fix=fix)
            if "data" not in batch or "labels" not in batch:
                raise DataError(f"{path}: batch lacks the keys 'data' and 'labels'", hint=fix)
            data = batch_pixels(batch["data"], path, fix=fix)
            labels = batch_labels(batch["labels"], path, fix=fix)
            if data.ndim != 2 or data.shape[1] != 3 * 16 * 16 or len(labels) != len(data):
                raise DataError(f"{path}: expected data of shape (N, 768) and N labels, got "
                                f"{data.shape} and {labels.shape}", hint=fix)
            keep = (labels >= 1) & (labels <= self.config.num_classes)  # labels are 1-based
            xs.append(data[keep].reshape(-1, 3, 16, 16))
            ys.append(labels[keep] - 1)
        x = np.ascontiguousarray(np.concatenate(xs))
        return torch.from_numpy(x), torch.from_numpy(np.concatenate(ys))
