"""Zero-cost proxies: exact values on hand-checkable nets, determinism, and the real NB201 space."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pytest
import torch
from torch import nn

from automl_nas.api import EvalContext, Genotype, ImageSet
from automl_nas.testing.contracts import EvaluatorContract
from automl_nas_eval_proxies.config import BatchProxyConfig, SynflowConfig
from automl_nas_eval_proxies.naswot import Naswot, hamming_kernel_score
from automl_nas_eval_proxies.snip import Snip
from automl_nas_eval_proxies.synflow import Synflow, synflow_score


def _data(n=16, c=3, side=8, classes=4) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, c, side, side), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % classes
    return ImageSet(name="tiny", train_x=x, train_y=y, test_x=x[:0], test_y=y[:0],
                    mean=(0.5,) * c, std=(0.25,) * c, num_classes=classes)


class FakeSpace:
    """Stand-in search space: genotype text "w<k>" builds a small conv net of width k."""

    name = "fake"

    def build_network(self, genotype, inputs):
        width = int(genotype.text[1:])
        return nn.Sequential(
            nn.Conv2d(inputs.channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, inputs.num_classes))


def _ctx(space=None, seed=0):
    return EvalContext(space=space or FakeSpace(), data=_data(), seed=seed)


def test_naswot_kernel_is_hamming_similarity():
    x = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    net = nn.Sequential(nn.ReLU())  # codes are the signs of x itself
    codes = (x > 0).numpy().astype(np.float64)
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    kernel = 7 - hamming  # N_A - d_H
    assert hamming_kernel_score(net, x) == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-12)
    # two ReLUs accumulate: K doubles and logdet grows by n * log 2
    two = nn.Sequential(nn.ReLU(), nn.ReLU())
    assert hamming_kernel_score(two, x) == pytest.approx(np.linalg.slogdet(kernel)[1] + 5 * np.log(2), rel=1e-12)


def test_synflow_single_linear_is_sum_abs_weights():
    lin = nn.Linear(6, 3, bias=False)
    # R = 1^T |W| 1, dR/dW = 1 1^T, so sum |W * dR/dW| = sum |W|
    assert synflow_score(lin, (6,)) == pytest.approx(float(lin.weight.detach().double().abs().sum()), rel=1e-12)


def test_synflow_ignores_batchnorm_and_restores_nothing_in_place():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    with_bn = nn.Sequential(plain[0], nn.BatchNorm2d(3), *plain[1:])
    before = plain[0].weight.clone()
    assert synflow_score(with_bn, (2, 6, 6)) == pytest.approx(synflow_score(plain, (2, 6, 6)), rel=1e-12)
    assert torch.equal(plain[0].weight, before)  # scored on a copy: signs untouched


@pytest.mark.parametrize(("cls", "cfg"), [(Naswot, BatchProxyConfig(batch_size=8)),
                                           (Synflow, SynflowConfig()),
                                           (Snip, BatchProxyConfig(batch_size=8))])
def test_proxies_deterministic_and_architecture_dependent(cls, cfg):
    ev = cls(cfg)
    a1 = ev.evaluate(Genotype("fake", "w4"), _ctx())
    a2 = ev.evaluate(Genotype("fake", "w4"), _ctx())
    b = ev.evaluate(Genotype("fake", "w8"), _ctx())
    assert set(a1) == set(ev.metrics) == {ev.name}
    assert a1 == a2
    assert np.isfinite(a1[ev.name]) and a1[ev.name] != b[ev.name]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    ev.evaluate(Genotype("fake", "w4"), _ctx())
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched


def test_seed_option_overrides_run_seed():
    ev = Snip(BatchProxyConfig(batch_size=8, seed=5))
    assert ev.evaluate(Genotype("fake", "w4"), _ctx(seed=0)) == ev.evaluate(Genotype("fake", "w4"), _ctx(seed=1))
    plain = Snip(BatchProxyConfig(batch_size=8))
    assert plain.evaluate(Genotype("fake", "w4"), _ctx(seed=0)) != plain.evaluate(Genotype("fake", "w4"), _ctx(seed=1))


def test_missing_data_is_a_data_error():
    from automl_nas.errors import DataError

    with pytest.raises(DataError, match="data set"):
        Naswot().evaluate(Genotype("fake", "w4"), EvalContext(space=FakeSpace()))


def test_descriptors():
    assert "eval-proxies" in {ep.name for ep in entry_points(group="automl_nas")}
    from automl_nas_eval_proxies import hooks

    assert {c.name for c in hooks.automl_register_evaluators()} == {"naswot", "synflow", "snip"}
    assert "torch" not in vars(hooks)


def _nb201_space():
    from automl_nas_space_nb201.config import Nb201Config
    from automl_nas_space_nb201.space import Nb201Space

    return Nb201Space(Nb201Config(channels=4, cells_per_stage=1))


@pytest.mark.parametrize("cls", [Naswot, Synflow, Snip])
def test_real_nb201_space(cls):
    space = _nb201_space()
    conv = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    skip = space.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    ev = cls(BatchProxyConfig(batch_size=8)) if cls is not Synflow else cls(SynflowConfig())
    ctx = _ctx(space)
    first = ev.evaluate(conv, ctx)[ev.name]
    assert first == ev.evaluate(conv, ctx)[ev.name]
    assert np.isfinite(first) and first != ev.evaluate(skip, ctx)[ev.name]


class _ProxyContract(EvaluatorContract):
    @pytest.fixture
    def genotype(self):
        return Genotype("fake", "w4")

    @pytest.fixture
    def eval_context(self):
        return _ctx()


class TestNaswotContract(_ProxyContract):
    @pytest.fixture
    def evaluator(self):
        return Naswot(BatchProxyConfig(batch_size=8))


class TestSynflowContract(_ProxyContract):
    @pytest.fixture
    def evaluator(self):
        return Synflow()


class TestSnipContract(_ProxyContract):
    @pytest.fixture
    def evaluator(self):
        return Snip(BatchProxyConfig(batch_size=8))


def test_naswot_scores_the_official_batch_of_128_images_by_default():
    """The score is the log-determinant of a batch x batch kernel: it depends on the batch size,
    and 64 (SNIP's zero-cost-nas default) was not NASWOT's (score_networks.py: --batch_size 128)."""
    from automl_nas.session import open_session
    from automl_nas_eval_proxies.config import NaswotConfig

    component = open_session().registry.get("evaluator", "naswot")
    assert component.config is NaswotConfig and NaswotConfig().batch_size == 128 == Naswot().config.batch_size
    assert open_session().registry.get("evaluator", "snip").config().batch_size == 64


@pytest.mark.parametrize("cls", [Naswot, Snip])
def test_a_batch_larger_than_the_training_set_is_said_not_clamped_silently(cls):
    """batch_size=100000 on 1,500 digits scored on 1,500 and said nothing (NASWOT's score depends on it)."""
    said = []
    data = _data()
    ctx = EvalContext(space=FakeSpace(), data=data, seed=0, log=said.append)
    big = cls(BatchProxyConfig(batch_size=len(data.train_y) + 5)).evaluate(Genotype("fake", "w4"), ctx)
    assert said == [f"note: batch_size {len(data.train_y) + 5} is more than the {len(data.train_y)} training images "
                    f"of {data.name}: scored on {len(data.train_y)}"]
    whole = cls(BatchProxyConfig(batch_size=len(data.train_y))).evaluate(Genotype("fake", "w4"), _ctx())
    assert big == whole
