"""CIFAR-10 and CIFAR-100 from the official python pickle batches.

Source: Krizhevsky (2009), https://www.cs.toronto.edu/~kriz/cifar.html; the
normalisation constants are AutoDL-Projects' (``xautodl/datasets/
get_dataset_with_transform.py``; spec §1.6).

Deviations:
* torchvision's CIFAR classes are used only to download (``download = true``), into a
  temporary folder whose files are then moved in whole, under a lock that makes trials
  starting together download once (:mod:`automl_nas.datafetch`); the archive is not kept;
  the batches are read here with a restricted unpickler, because torchvision's
  reader insists on the official md5 sums (tiny test files cannot pass) and
  calls ``pickle.load`` unrestricted.
* CIFAR-100's xvalid/xtest halves: AutoDL-Projects reads a fixed split file
  (``configs/nas-benchmark/cifar100-test-split.txt``) that is not shipped here;
  ``eval_split`` is a seeded random 5,000/5,000 halving (``split_seed``), so the
  halves differ from the official ones while having the same sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from automl_nas.api import DatasetProvider, ImageSet
from automl_nas.benchstore import data_dir, file_in_the_way
from automl_nas.datafetch import exclusive, fetch_atomically
from automl_nas.errors import DataError
from automl_nas_data_vision.config import DEFAULT_ROOT, CifarConfig
from automl_nas_data_vision.safe_pickle import batch_labels, batch_pixels, load_batch
from automl_nas_data_vision.splits import halves

__all__ = ["Cifar10", "Cifar100"]


class _Cifar(DatasetProvider):
    """Shared reader; subclasses name the folder, files and label key."""

    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    tv_class: str

    def __init__(self, config: CifarConfig | None = None) -> None:
        self.config = config or CifarConfig()
        self.root = data_dir(self.config.root)
        self.directory = self.root / self.folder

    def load(self) -> ImageSet:
        # Any folder on the way may be a file (AUTOML_NAS_HOME itself): the download's hint could not be followed.
        blocked = file_in_the_way(self.directory, self.root, component=self.name, holds=f"{self.folder}/",
                                  default_root=self.config.root == DEFAULT_ROOT)
        if blocked is not None:
            raise blocked
        missing = self._missing()
        if missing and self.config.download:
            self._download()
            missing = self._missing()
        if missing:
            raise DataError(
                f"{self.name}: expected the python batches in {self.directory} "
                f"but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing",
                hint=f"set `download = true` in the data-set options, or `root = ...` to the directory "
                     f"that contains {self.folder}/",
            )
        train_x, train_y = self._read(self.train_files)
        test_x, test_y = self._read(self.test_files)
        return ImageSet(name=self.name, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                        mean=self.mean, std=self.std, num_classes=self.num_classes, crop_padding=4,
                        search_split=None, eval_split=self._eval_split(len(test_y)), source=str(self.directory))

    def _eval_split(self, n_test: int):
        return None

    def _missing(self) -> list[str]:
        return [f for f in self.train_files + self.test_files if not (self.directory / f).is_file()]

    def _download(self) -> None:
        import torchvision.datasets as tvd

        def fetch(tmp: Path) -> Path:
            getattr(tvd, self.tv_class)(str(tmp), train=True, download=True)  # the archive, unpacked
            return tmp / self.folder

        try:
            # Trials starting together on one machine share the data root: one downloads, the others wait.
            with exclusive(self.root, self.name):
                if self._missing():
                    fetch_atomically(self.directory, fetch)
        except Exception as exc:  # no network, disk full, bad checksum
            raise DataError(f"{self.name}: download into {self.root} failed ({type(exc).__name__}: {exc})",
                            hint=f"download the python version by hand (https://www.cs.toronto.edu/~kriz/cifar.html) "
                                 f"and unpack it so that {self.directory} exists, or set `root = ...` to a folder "
                                 f"that already holds {self.folder}/") from exc

    def _read(self, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        fix = f"re-download with `download = true` (delete {self.directory} first)"
        for name in files:
            path = self.directory / name
            batch = load_batch(path, fix=fix)
            if "data" not in batch or self.label_key not in batch:
                raise DataError(f"{path}: batch lacks the keys 'data' and {self.label_key!r}", hint=fix)
            data = batch_pixels(batch["data"], path, fix=fix)
            labels = batch_labels(batch[self.label_key], path, fix=fix)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
                raise DataError(f"{path}: expected data of shape (N, 3072) and N labels, got "
                                f"{data.shape} and {labels.shape}", hint=fix)
            outside = labels[(labels < 0) | (labels >= self.num_classes)]
            if len(outside):  # per file: the one to replace, and the value that is wrong
                raise DataError(f"{path}: {len(outside)} label(s) outside 0..{self.num_classes - 1} "
                                f"(e.g. {int(outside[0])})", hint=fix)
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(labels)
        y = torch.from_numpy(np.concatenate(ys))
        return torch.from_numpy(np.ascontiguousarray(np.concatenate(xs))), y


class Cifar10(_Cifar):
    """CIFAR-10: 50,000 train / 10,000 test, 10 classes; the host makes the search split."""

    name = "cifar10"
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    label_key = "labels"
    num_classes = 10
    mean = (125.3 / 255, 123.0 / 255, 113.9 / 255)
    std = (63.0 / 255, 62.1 / 255, 66.7 / 255)
    tv_class = "CIFAR10"


class Cifar100(_Cifar):
    """CIFAR-100 (fine labels): 50,000 / 10,000; ``eval_split`` halves the test set."""

    name = "cifar100"
    folder = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    label_key = "fine_labels"
    num_classes = 100
    mean = (129.3 / 255, 124.1 / 255, 112.4 / 255)
    std = (68.2 / 255, 65.4 / 255, 70.4 / 255)
    tv_class = "CIFAR100"

    def _eval_split(self, n_test: int):
        # (xvalid, xtest) indices into the test set; see the module docstring.
        return halves(n_test, self.config.split_seed)
