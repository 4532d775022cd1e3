"""SNAS sampler invariants (algorithms.md §10.4, items 1-4)."""

from __future__ import annotations

import math

import attrs
import pytest
import torch

from automl_nas.testing.contracts import SamplerContract
from automl_nas.api import GroupSpec
from automl_nas.schedules import Schedule

from automl_nas_snas.config import SnasConfig
from automl_nas_snas.sampler import SnasSampler, concrete_log_density


def _fixed_noise(sampler: SnasSampler, u: torch.Tensor, monkeypatch) -> None:
    monkeypatch.setattr(sampler, "uniform", lambda like: u.to(like))


def test_relaxed_sample_with_fixed_uniforms(monkeypatch):
    torch.manual_seed(0)
    a = torch.randn(14, 8, dtype=torch.float64)
    u = torch.rand(14, 8, dtype=torch.float64)
    sampler = SnasSampler()
    sampler.set_epoch(10, 150)
    _fixed_noise(sampler, u, monkeypatch)
    z = sampler.sample({"normal": a}, phase="weights")["normal"]
    assert z.active is None and z.mask is None  # soft: every op runs
    expected = torch.softmax((a - torch.log(-torch.log(u))) / sampler.temperature, -1)
    torch.testing.assert_close(z.weights, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(z.weights.sum(-1), torch.ones(14, dtype=torch.float64), rtol=0, atol=1e-12)
    assert (z.weights > 0).all()


def test_argmax_is_independent_of_temperature_and_low_temperature_is_one_hot(monkeypatch):
    torch.manual_seed(1)
    a = torch.randn(14, 8, dtype=torch.float64)
    u = torch.rand(14, 8, dtype=torch.float64)
    g = -torch.log(-torch.log(u))
    top2 = (a + g).topk(2, -1).values
    assert ((top2[:, 0] - top2[:, 1]) > 0.02).all()  # the seed's rows are separated enough for lambda = 1e-3
    sampler = SnasSampler()
    _fixed_noise(sampler, u, monkeypatch)
    k_star = (a + g).argmax(-1)
    for lam in (10.0, 1.0, 0.1, 1e-3):
        sampler.temperature = lam
        z = sampler.sample({"normal": a}, phase="arch")["normal"].weights
        assert torch.equal(z.argmax(-1), k_star)
    onehot = torch.nn.functional.one_hot(k_star, 8).to(a)
    torch.testing.assert_close(z, onehot, rtol=0, atol=1e-6)


def test_log_density_matches_torch_relaxed_one_hot_categorical():
    torch.manual_seed(2)
    a = torch.randn(14, 8, dtype=torch.float64)
    for lam in (0.5, 1.0, 2.0):
        dist = torch.distributions.RelaxedOneHotCategorical(torch.tensor(lam, dtype=torch.float64), logits=a)
        z = dist.sample()
        z = z.clamp_min(1e-3)
        z = z / z.sum(-1, keepdim=True)  # keep Z away from the 1e-4 floor
        ours = SnasSampler().log_density(z, a, lam)
        torch.testing.assert_close(ours, dist.log_prob(z), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(SnasSampler().log_density(z, a + 3.7, lam), ours, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(concrete_log_density(z, a - 2.0, lam, floor=0.0), ours, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lam", [0.7, 1.0, 2.0])
def test_log_density_integrates_to_one_for_two_ops(lam):
    # Density of (z, 1 - z) w.r.t. z on (0, 1); substitute z = s^2 near the ends so the
    # z^-(1 - lam) singularity of lam < 1 is integrable by the trapezoid rule.
    a = torch.tensor([0.3, -0.4], dtype=torch.float64)
    s = torch.linspace(0, 1, 400_001, dtype=torch.float64)[1:-1]
    half = 0.5 * s**2  # z in (0, 0.5], dz = s ds
    total = 0.0
    for z in (half, 1 - half):
        pts = torch.stack([z, 1 - z], -1)
        dens = concrete_log_density(pts, a.expand_as(pts), lam, floor=0.0).exp()
        total += float(torch.trapezoid(dens * s, s))
    assert abs(total - 1.0) < 1e-3
    # With the code's 1e-4 floors the mass changes only in the tails.
    z = torch.linspace(1e-6, 1 - 1e-6, 200_001, dtype=torch.float64)
    pts = torch.stack([z, 1 - z], -1)
    floored = float(torch.trapezoid(concrete_log_density(pts, a.expand_as(pts), 1.0).exp(), z))
    assert abs(floored - 1.0) < 1e-3


def test_temperature_schedule_matches_snas_code():
    sampler = SnasSampler(SnasConfig())
    values = {}
    for e in range(300):
        sampler.set_epoch(e, 150)
        values[e] = sampler.temperature
        assert sampler.status() == {"temperature": values[e]}
    assert math.isclose(values[0], 0.9935333, abs_tol=1e-7)
    assert math.isclose(values[1], 0.9870667, abs_tol=1e-7)
    assert math.isclose(values[49], 0.6766667, abs_tol=1e-7)
    assert math.isclose(values[148], 0.0364667, abs_tol=1e-7)
    assert math.isclose(values[149], 0.03, abs_tol=1e-12)
    assert all(values[e] >= 0.03 - 1e-12 for e in range(149, 300))
    # The schedule is a plain recipe option and is validated > 0.
    with pytest.raises(ValueError, match="> 0"):
        SnasConfig(temperature=Schedule(kind="linear", start=1.0, end=0.0))
    with pytest.raises(ValueError, match="per epoch"):
        SnasConfig(temperature=Schedule(kind="linear", start=1.0, end=0.1, unit="step"))
    assert attrs.fields(SnasConfig).temperature.metadata["help"]


def test_init_params_and_state():
    g = GroupSpec(name="normal", ops=tuple("abcdefgh"), edges=tuple(str(i) for i in range(14)))
    params = SnasSampler().init_params([g], torch.Generator().manual_seed(0))["normal"]
    assert params.shape == (14, 8)
    assert abs(float(params.mean()) - 1.0) < 0.01 and 0.005 < float(params.std()) < 0.015
    s = SnasSampler()
    s.set_epoch(49, 150)
    t = SnasSampler()
    t.load_state_dict(s.state_dict())
    assert t.temperature == s.temperature
    a = torch.randn(14, 8)
    torch.testing.assert_close(s.probs({"normal": a})["normal"], torch.softmax(a, -1))
    assert s.derive_params({"normal": a})["normal"] is a


# ---- the host's conformance suite (style G14) ----


class TestSnasSamplerContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return SnasSampler()
