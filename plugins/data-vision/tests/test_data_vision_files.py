"""CIFAR-10/100 and ImageNet16-120 readers on tiny files written in the official formats."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from automl_nas.errors import DataError
from automl_nas_data_vision.cifar import Cifar10, Cifar100
from automl_nas_data_vision.config import CifarConfig, ImageNet16Config
from automl_nas_data_vision.imagenet16 import ImageNet16


def _dump(path, obj):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _batch(n, side, labels, seed):
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 256, size=(n, 3 * side * side), dtype=np.uint8), "labels": list(labels)}


@pytest.fixture
def cifar10_root(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i in range(1, 6):
        _dump(d / f"data_batch_{i}", _batch(4, 32, [(i + k) % 10 for k in range(4)], i))
    _dump(d / "test_batch", _batch(6, 32, range(6), 9))
    _dump(d / "batches.meta", {"label_names": [str(i) for i in range(10)]})
    return tmp_path


def test_cifar10_shapes_labels_and_row_layout(cifar10_root):
    ds = Cifar10(CifarConfig(root=str(cifar10_root))).load()
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (6, 3, 32, 32) and ds.test_y.dtype == torch.int64
    assert ds.train_y[:4].tolist() == [1, 2, 3, 4]
    # rows are 3 planes of 32x32: the first 1024 bytes are the red plane
    raw = pickle.load(open(cifar10_root / "cifar-10-batches-py" / "data_batch_1", "rb"))["data"]
    assert torch.equal(ds.train_x[0, 0].flatten(), torch.from_numpy(raw[0, :1024]))
    assert ds.num_classes == 10 and ds.crop_padding == 4
    assert ds.search_split is None and ds.eval_split is None
    assert ds.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))
    assert ds.std == pytest.approx((63.0 / 255, 62.1 / 255, 66.7 / 255))


def test_cifar10_missing_names_directory_and_download(tmp_path):
    with pytest.raises(DataError) as info:
        Cifar10(CifarConfig(root=str(tmp_path))).load()
    text = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in text
    assert "download = true" in text and "data_batch_1" in text


def test_cifar_hostile_pickle_is_refused(cifar10_root):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    _dump(cifar10_root / "cifar-10-batches-py" / "test_batch", {"data": Evil(), "labels": []})
    with pytest.raises(DataError, match="not allowed"):
        Cifar10(CifarConfig(root=str(cifar10_root))).load()


def test_cifar100_fine_labels_and_seeded_halves(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 10), ("test", 8)):
        _dump(d / name, {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "fine_labels": [99 - i for i in range(n)], "coarse_labels": [0] * n})
    _dump(d / "meta", {"fine_label_names": [str(i) for i in range(100)]})
    ds = Cifar100(CifarConfig(root=str(tmp_path))).load()
    assert ds.train_x.shape == (10, 3, 32, 32) and ds.test_x.shape == (8, 3, 32, 32)
    assert ds.train_y[:2].tolist() == [99, 98] and ds.num_classes == 100
    valid, test = ds.eval_split
    assert len(valid) == len(test) == 4
    assert sorted(valid.tolist() + test.tolist()) == list(range(8))
    again = Cifar100(CifarConfig(root=str(tmp_path))).load().eval_split
    assert torch.equal(again[0], valid)
    other = Cifar100(CifarConfig(root=str(tmp_path), split_seed=1)).load().eval_split
    assert not torch.equal(other[0], valid)


def test_imagenet16_keeps_labels_1_to_120_and_maps_to_0_based(tmp_path):
    labels = [1, 120, 121, 500, 7]
    for i in range(1, 11):
        _dump(tmp_path / f"train_data_batch_{i}", _batch(5, 16, labels, i))
    _dump(tmp_path / "val_data", _batch(6, 16, [1, 2, 3, 200, 119, 120], 0))
    ds = ImageNet16(ImageNet16Config(root=str(tmp_path))).load()
    assert ds.train_x.shape == (30, 3, 16, 16) and ds.train_x.dtype == torch.uint8
    assert ds.train_y[:3].tolist() == [0, 119, 6]
    assert ds.test_y.tolist() == [0, 1, 2, 118, 119]
    assert ds.num_classes == 120 and ds.crop_padding == 2
    assert ds.mean == pytest.approx((122.68 / 255, 116.66 / 255, 104.01 / 255))
    valid, test = ds.eval_split
    assert len(valid) == 2 and len(test) == 3


def test_imagenet16_missing_files_name_root(tmp_path):
    with pytest.raises(DataError) as info:
        ImageNet16(ImageNet16Config(root=str(tmp_path))).load()
    assert str(tmp_path) in str(info.value) and "val_data" in str(info.value) and "root = ..." in str(info.value)


class _FakeTorchvisionCifar10:
    """torchvision.datasets.CIFAR10's download: the archive into root, unpacked beside it."""

    calls: list[str] = []
    fail = False

    def __init__(self, root, train, download):
        self.calls.append(root)
        (Path(root) / "cifar-10-python.tar.gz").write_bytes(b"archive")
        folder = Path(root) / "cifar-10-batches-py"
        folder.mkdir()
        for i in range(1, 6):
            _dump(folder / f"data_batch_{i}", _batch(2, 32, [i, i], i))
            if self.fail and i == 3:
                raise ConnectionError("network down")
        _dump(folder / "test_batch", _batch(3, 32, range(3), 9))


def test_a_download_lands_whole_files_in_the_home_data_cache_and_keeps_no_archive(tmp_path, monkeypatch):
    import torchvision.datasets

    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _FakeTorchvisionCifar10)
    monkeypatch.setattr(_FakeTorchvisionCifar10, "calls", [])
    monkeypatch.setattr(_FakeTorchvisionCifar10, "fail", True)
    with pytest.raises(DataError, match="download into .* failed .*ConnectionError"):
        Cifar10(CifarConfig(download=True)).load()
    data = tmp_path / "home" / "data"
    assert not data.exists()  # no half-downloaded batches, and no folder or lock file made for them
    monkeypatch.setattr(_FakeTorchvisionCifar10, "fail", False)
    ds = Cifar10(CifarConfig(download=True)).load()
    assert ds.train_x.shape == (10, 3, 32, 32) and ds.source == str(data / "cifar-10-batches-py")
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-batches-py"]
    assert all(Path(root).parent == data for root in _FakeTorchvisionCifar10.calls)  # fetched beside, moved in
    Cifar10(CifarConfig(download=True)).load()
    assert len(_FakeTorchvisionCifar10.calls) == 2  # files there: no third download


def test_pixels_that_are_not_bytes_and_labels_out_of_range_are_named_by_file(cifar10_root, tmp_path):
    """Float pixels were cast to uint8 (300.7 became 44, images in [0, 1] all but 0); a label of
    10 named the folder only, not the file or the value."""
    batches = cifar10_root / "cifar-10-batches-py"
    _dump(batches / "data_batch_2", {"data": np.full((4, 3072), 300.7), "labels": [1, 2, 3, 4]})
    with pytest.raises(DataError, match=r"data_batch_2: data has dtype float64, values 300.7..300.7, expected uint8"):
        Cifar10(CifarConfig(root=str(cifar10_root))).load()
    _dump(batches / "data_batch_2", {"data": np.full((4, 3072), 7, dtype=np.int64), "labels": [1, 2, 3, 4]})
    assert Cifar10(CifarConfig(root=str(cifar10_root))).load().train_x[4].max() == 7  # integers 0..255 are pixels
    _dump(batches / "data_batch_3", _batch(4, 32, [1, 10, 2, 3], 3))
    with pytest.raises(DataError, match=r"data_batch_3: 1 label\(s\) outside 0..9 \(e.g. 10\)"):
        Cifar10(CifarConfig(root=str(cifar10_root))).load()
    root = tmp_path / "in16"
    root.mkdir()
    for i in range(1, 11):
        _dump(root / f"train_data_batch_{i}", _batch(2, 16, [1, 2], i))
    _dump(root / "val_data", {"data": np.random.default_rng(0).random((2, 768)), "labels": [1, 2]})
    with pytest.raises(DataError, match=r"val_data: data has dtype float64, values .*, expected uint8 pixels"):
        ImageNet16(ImageNet16Config(root=str(root))).load()


def test_labels_that_are_not_class_indices_are_refused_by_file(cifar10_root):
    """3.7 was truncated to class 3; 'cat' was an internal error."""
    batches = cifar10_root / "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
    for labels, said in (([2.0, 3.7, 1.0, 0.0], "labels have dtype float64 (e.g. 3.7)"),
                         (["cat", "dog", "cat", "dog"], "labels have dtype <U3 (e.g. 'cat')")):
        _dump(batches / "data_batch_4", {"data": pixels, "labels": labels})
        with pytest.raises(DataError, match=rf"data_batch_4: {re.escape(said)}, expected integer class indices"):
            Cifar10(CifarConfig(root=str(cifar10_root))).load()
    _dump(batches / "data_batch_4", {"data": pixels, "labels": [3.0, 1.0, 2.0, 0.0]})
    assert Cifar10(CifarConfig(root=str(cifar10_root))).load().train_y[12:16].tolist() == [3, 1, 2, 0]
