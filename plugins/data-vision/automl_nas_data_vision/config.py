"""Options of the data-set components (light: no torch, no numpy)."""

from __future__ import annotations

from pathlib import Path

import attrs

from automl_nas.api import INPUT_FILE
from automl_nas.benchstore import DEFAULT_DATA_ROOT, data_dir, file_in_the_way
from automl_nas.errors import DataError, missing_file

DEFAULT_ROOT = DEFAULT_DATA_ROOT
# what each provider reads (cifar.py / imagenet16.py read these too; kept here so checks need no torch)
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)),
    "cifar100": ("cifar-100-python", ("train", "test")),
}
IMAGENET16_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11)) + ("val_data",)


_non_negative_int = [attrs.validators.instance_of(int), attrs.validators.ge(0)]


def _non_empty(_inst: object, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty path, got {value!r}")


@attrs.frozen(kw_only=True)
class CifarConfig:
    root: str = attrs.field(default=DEFAULT_ROOT, validator=_non_empty,
                            metadata={"help": "directory holding cifar-10-batches-py / cifar-100-python"})
    download: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool),
                                 metadata={"help": "download the archive (torchvision) when the files are missing"})
    split_seed: int = attrs.field(default=0, validator=_non_negative_int,
                                  metadata={"help": "seed of the CIFAR-100 xvalid/xtest halving of the test set"})

    def preflight(self, component: str) -> None:
        """The batches are there, or ``download = true`` will fetch them."""
        folder, files = CIFAR_FILES[component]
        directory = data_dir(self.root) / folder
        blocked = file_in_the_way(directory, data_dir(self.root), component=component, holds=f"{folder}/",
                                  default_root=self.root == DEFAULT_ROOT)
        if blocked is not None:  # neither a download nor a copy could go there
            raise blocked
        missing = [f for f in files if not (directory / f).is_file()]
        if missing and not self.download:
            raise DataError(f"{component}: {', '.join(missing)} missing in {directory}",
                            hint=f"set `data.download = true` (--set data.download=true), or `root = ...` to the "
                                 f"directory that contains {folder}/")


@attrs.frozen(kw_only=True)
class ImageNet16Config:
    root: str = attrs.field(default=DEFAULT_ROOT + "/ImageNet16", validator=_non_empty,
                            metadata={"help": "directory holding train_data_batch_1..10 and val_data"})
    num_classes: int = attrs.field(default=120, validator=[attrs.validators.instance_of(int), attrs.validators.in_((120, 1000))],
                                   metadata={"help": "keep labels 1..num_classes (120 = ImageNet16-120)"})
    split_seed: int = attrs.field(default=0, validator=_non_negative_int,
                                  metadata={"help": "seed of the xvalid/xtest halving of the validation set"})

    def preflight(self, component: str) -> None:
        """The down-sampled batches are there (there is no automatic download)."""
        root = data_dir(self.root)
        missing = [f for f in IMAGENET16_FILES if not (root / f).is_file()]
        if missing:
            raise DataError(f"{component}: {len(missing)} of the ImageNet16 batch files are missing in {root} "
                            f"(e.g. {missing[0]})",
                            hint="download Imagenet16 (the NAS-Bench-201 format) and set `root = ...` to its directory")


@attrs.frozen(kw_only=True)
class NpzConfig:
    path: str = attrs.field(default="", metadata={"help": "the .npz file with arrays x (uint8 NCHW or NHWC) and y (int)",
                                                  INPUT_FILE: True})
    test_fraction: float = attrs.field(default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.lt(1.0)],
                                       metadata={"help": "fraction of images held out as test set (0 = all train)"})
    seed: int = attrs.field(default=0, validator=_non_negative_int,
                            metadata={"help": "seed of the train/test split"})
    num_classes: int = attrs.field(default=0, validator=_non_negative_int,
                                   metadata={"help": "number of classes (0: the labels must be 0..K-1 with every "
                                                     "class present, and K is counted)"})
    layout: str = attrs.field(default="auto", validator=attrs.validators.in_(("auto", "nchw", "nhwc")),
                              metadata={"help": "x's axes: nchw, nhwc, or auto (nhwc when only the last axis can be "
                                                "a channel count: 1, 3 or 4; nchw when only axis 1 can; refused "
                                                "when both or neither can)"})

    def preflight(self, component: str) -> None:
        """The file exists (its content is checked when it is read)."""
        fix = "set `path = ...` to a .npz file with arrays x and y"
        if not self.path:
            raise DataError(f"{component}: no file given", hint=fix)
        if not Path(self.path).expanduser().is_file():
            raise DataError(f"{component}: {missing_file(self.path)}", hint=fix)


@attrs.frozen(kw_only=True)
class DigitsConfig:
    size: int = attrs.field(default=16, validator=[attrs.validators.instance_of(int), attrs.validators.ge(8)],
                            metadata={"help": "side of the (bilinearly upsampled) images; 8 keeps the originals"})
    test_count: int = attrs.field(default=297, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0),
                                                          attrs.validators.lt(1797)],
                                  metadata={"help": "number of images held out as test set (of 1,797)"})
    seed: int = attrs.field(default=0, validator=_non_negative_int,
                            metadata={"help": "seed of the train/test split"})
