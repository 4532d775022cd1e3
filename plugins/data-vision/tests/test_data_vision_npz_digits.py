"""The npz provider (good and bad files), the embedded digits and the hook descriptors."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

import numpy as np
import pytest
import torch

from automl_nas.errors import DataError
from automl_nas_data_vision.config import DigitsConfig, NpzConfig
from automl_nas_data_vision.embedded import Digits
from automl_nas_data_vision.npz import NpzDataset


def _load(path, **kw):
    return NpzDataset(NpzConfig(path=str(path), **kw)).load()


def test_npz_channels_first_all_train(tmp_path):
    x = np.arange(10 * 3 * 4 * 4, dtype=np.int64).reshape(10, 3, 4, 4).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(10) % 4)
    ds = _load(tmp_path / "d.npz", layout="nchw")  # 3x4x4: 4x4 RGB, or 3x4 RGBA, which auto does not guess
    assert ds.train_x.shape == (10, 3, 4, 4) and ds.test_x.shape[0] == 0
    assert torch.equal(ds.train_x, torch.from_numpy(x)) and ds.num_classes == 4
    expected_mean = x.astype(np.float64).transpose(1, 0, 2, 3).reshape(3, -1).mean(1) / 255
    assert ds.mean == pytest.approx(tuple(expected_mean))


def test_npz_channels_last_is_detected_and_split_is_seeded(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 2)
    ds = _load(tmp_path / "d.npz", test_fraction=0.25, seed=3)
    assert ds.train_x.shape == (15, 3, 6, 6) and ds.test_x.shape == (5, 3, 6, 6)
    assert torch.equal(_load(tmp_path / "d.npz", test_fraction=0.25, seed=3).test_y, ds.test_y)
    first = x[:, :, :, 0].reshape(20, -1)
    all_x = torch.cat([ds.train_x, ds.test_x])[:, 0].reshape(20, -1).numpy()
    assert sorted(map(bytes, all_x)) == sorted(map(bytes, first))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((2, 3, 4, 4), np.uint8)}, "needs 'x' and 'y'"),
        ({"x": np.zeros((2, 3, 4, 4), np.float32), "y": np.zeros(2, int)}, "dtype float32"),
        ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.zeros(2, int)}, "4 dimensions"),
        ({"x": np.zeros((2, 3, 4, 4), np.uint8), "y": np.zeros(3, int)}, "2 images but y has 3"),
        ({"x": np.zeros((0, 3, 4, 4), np.uint8), "y": np.zeros(0, int)}, r"holds no images \(x has shape \(0, 3, 4, 4\)\)"),
    ],
)
def test_npz_bad_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty file printed torch's std() warning before its error
        with pytest.raises(DataError, match=message):
            _load(tmp_path / "bad.npz")


def test_a_test_fraction_that_holds_out_every_image_is_named(tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((1, 3, 5, 5), np.uint8), y=np.zeros(1, int))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match=r"data.test_fraction = 0.6 holds out all 1 images"):
            NpzDataset(NpzConfig(path=str(tmp_path / "one.npz"), test_fraction=0.6)).load()


def test_npz_truncated_and_missing(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((50, 3, 8, 8), np.uint8), y=np.zeros(50, int))
    data = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        _load(tmp_path / "t.npz")
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")  # np.load took it for a pickle and spoke of allow_pickle
    with pytest.raises(DataError, match="not a .npz archive at all") as text:
        _load(tmp_path / "text.npz")
    assert "pickle" not in str(text.value)
    with pytest.raises(DataError, match="does not exist") as info:
        _load(tmp_path / "nope.npz")
    assert "path = ..." in str(info.value)
    with pytest.raises(DataError, match="path = ..."):
        NpzDataset(NpzConfig()).load()


def test_digits_shapes_labels_split():
    ds = Digits().load()
    assert ds.train_x.shape == (1500, 1, 16, 16) and ds.test_x.shape == (297, 1, 16, 16)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert int(ds.train_x.max()) == 255 and int(ds.train_x.min()) == 0
    assert sorted(set(ds.train_y.tolist())) == list(range(10)) and ds.num_classes == 10
    assert ds.source == "scikit-learn load_digits" and len(ds.mean) == 1
    assert torch.equal(Digits().load().test_y, ds.test_y)
    assert not torch.equal(Digits(DigitsConfig(seed=1)).load().test_y, ds.test_y)


def test_digits_size_8_keeps_scaled_originals():
    from sklearn.datasets import load_digits

    ds = Digits(DigitsConfig(size=8, test_count=0)).load()
    expected = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    assert ds.train_x.shape == (1797, 1, 8, 8)
    assert torch.equal(ds.train_x[:, 0], torch.from_numpy(expected))


def test_entry_point_and_descriptors_without_torch():
    eps = {ep.name: ep for ep in entry_points(group="automl_nas")}
    assert eps["data-vision"].value == "automl_nas_data_vision.hooks"
    from automl_nas_data_vision import hooks

    names = {c.name for c in hooks.automl_register_datasets()}
    assert names == {"cifar10", "cifar100", "imagenet16-120", "npz", "digits"}
    assert "torch" not in vars(hooks)


def test_rgba_channels_last_an_object_label_array_and_a_single_class(tmp_path):
    """RGBA (N, 32, 32, 4) was read as 32 channels of 32x4 images; an object-dtype y was called
    a damaged file; a single class trained a 1-output classifier to 100 %."""
    rgba = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 4), dtype=np.uint8)
    np.savez(tmp_path / "rgba.npz", x=rgba, y=np.arange(6) % 2)
    data = _load(tmp_path / "rgba.npz")
    assert data.train_x.shape == (6, 4, 8, 8) and torch.equal(data.train_x[0, 3], torch.from_numpy(rgba[0, :, :, 3]))
    np.savez(tmp_path / "obj.npz", x=np.zeros((4, 3, 4, 4), np.uint8), y=np.array([0, 1, 0, 1], dtype=object))
    with pytest.raises(DataError, match=r"an array holds Python objects \(dtype object\)") as err:
        _load(tmp_path / "obj.npz")
    assert "truncated" not in str(err.value)
    np.savez(tmp_path / "one.npz", x=np.zeros((4, 3, 5, 5), np.uint8), y=np.zeros(4, int))
    with pytest.raises(DataError, match="every label is 0; a classifier needs at least 2 classes"):
        _load(tmp_path / "one.npz")


def test_a_layout_auto_cannot_tell_is_refused_and_the_layout_option_decides(tmp_path):
    """4x4 RGB images saved channels-last were read as 4-channel 4x3 images."""
    x = np.random.default_rng(0).integers(0, 256, (8, 4, 4, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(8) % 2)
    with pytest.raises(DataError, match=r"x has shape \(8, 4, 4, 3\): both axis 1 and the last axis could hold the "
                                        r"channels") as err:
        _load(tmp_path / "d.npz")
    assert 'data.layout = "nchw"' in err.value.hint and '"nhwc"' in err.value.hint
    ds = _load(tmp_path / "d.npz", layout="nhwc")
    assert ds.train_x.shape == (8, 3, 4, 4) and torch.equal(ds.train_x[0, 2], torch.from_numpy(x[0, :, :, 2]))


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_a_channel_count_auto_cannot_recognise_is_refused(tmp_path, layout):
    """16x16 images of 8 bands saved channels-last were read as 16 channels of 16x8 images, and
    the run went on."""
    x = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 8) if layout == "nhwc" else (8, 8, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(8) % 2)
    with pytest.raises(DataError, match=r"neither axis 1 nor the last axis holds 1, 3 or 4 channels") as err:
        _load(tmp_path / "d.npz")
    assert 'data.layout = "nchw"' in err.value.hint
    assert _load(tmp_path / "d.npz", layout=layout).train_x.shape[1:] == (8, 16, 16)

