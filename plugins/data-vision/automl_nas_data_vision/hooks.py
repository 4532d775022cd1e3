"""Contribution hooks of the data-vision plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_data_vision.config import CifarConfig, DigitsConfig, ImageNet16Config, NpzConfig

_PKG = "automl_nas_data_vision"


@hookimpl
def automl_register_datasets() -> list[Component]:
    return [
        Component(kind="dataset", name="cifar10", impl=f"{_PKG}.cifar:Cifar10", config=CifarConfig,
                  summary="CIFAR-10 (python pickle batches; torchvision download with download = true)"),
        Component(kind="dataset", name="cifar100", impl=f"{_PKG}.cifar:Cifar100", config=CifarConfig,
                  summary="CIFAR-100, test set halved into xvalid/xtest (seeded)"),
        Component(kind="dataset", name="imagenet16-120", impl=f"{_PKG}.imagenet16:ImageNet16", config=ImageNet16Config,
                  summary="NAS-Bench-201's 16x16 ImageNet restricted to 120 classes"),
        Component(kind="dataset", name="npz", impl=f"{_PKG}.npz:NpzDataset", config=NpzConfig,
                  summary="images from a .npz file (arrays x, y)"),
        Component(kind="dataset", name="digits", impl=f"{_PKG}.embedded:Digits", config=DigitsConfig,
                  summary="scikit-learn's 1,797 8x8 digits, embedded (no download)"),
    ]
