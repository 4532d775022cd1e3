"""The embedded default data set: scikit-learn's handwritten digits.

Source: the UCI "Optical Recognition of Handwritten Digits" test set as shipped
by scikit-learn (``sklearn.datasets.load_digits``: 1,797 images of 8x8 pixels,
values 0..16, 10 classes); no download is ever needed.

Pixels are scaled to uint8 0..255 (``round(v * 255 / 16)``) and bilinearly
upsampled to ``size`` x ``size`` (default 16) so that a network with two
stride-2 reductions still sees more than one pixel. ``test_count`` images
(default 297, leaving 1,500 for training) are held out by a seeded permutation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from automl_nas.api import DatasetProvider, ImageSet
from automl_nas_data_vision.config import DigitsConfig
from automl_nas_data_vision.splits import channel_stats, holdout

__all__ = ["Digits"]


class Digits(DatasetProvider):
    """1-channel digits; ``size``, ``test_count`` and ``seed`` options."""

    name = "digits"

    def __init__(self, config: DigitsConfig | None = None) -> None:
        self.config = config or DigitsConfig()

    def load(self) -> ImageSet:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        x = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 8, 8)
        if self.config.size != 8:
            up = F.interpolate(x.float(), size=(self.config.size,) * 2, mode="bilinear", align_corners=False)
            x = up.round_().clamp_(0, 255).to(torch.uint8)
        y = torch.from_numpy(bunch.target.astype(np.int64))
        train_idx, test_idx = holdout(len(y), self.config.test_count, self.config.seed)
        train_x = x[train_idx].contiguous()
        mean, std = channel_stats(train_x)
        return ImageSet(name=self.name, train_x=train_x, train_y=y[train_idx], test_x=x[test_idx].contiguous(),
                        test_y=y[test_idx], mean=mean, std=std, num_classes=10,
                        crop_padding=max(1, self.config.size // 8), source="scikit-learn load_digits")
