"""GDAS sampler invariants (algorithms.md §10.5, items 1-7)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from automl_nas.testing.contracts import SamplerContract
from automl_nas.nn import MixedOp
from automl_nas.schedules import Schedule

from automl_nas_gdas.config import GdasConfig
from automl_nas_gdas.sampler import GdasSampler

CONV3 = 3  # NB201 op order: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3


class Zero(nn.Module):
    is_zero = True

    def forward(self, x):
        return x * 0


def _edge(c: int = 4) -> MixedOp:
    def rcb(k):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c, affine=False))

    ops = [Zero(), nn.Identity(), rcb(1), rcb(3), nn.AvgPool2d(3, 1, 1, count_include_pad=False)]
    return MixedOp(ops).double()


def _fixed(sampler: GdasSampler, g: torch.Tensor, monkeypatch) -> None:
    monkeypatch.setattr(sampler, "gumbel", lambda like: g.to(like))


def test_hard_sample_is_argmax_of_logits_plus_noise(monkeypatch):
    torch.manual_seed(0)
    alpha = torch.randn(6, 5, dtype=torch.float64)
    g = -torch.log(-torch.log(torch.rand(6, 5, dtype=torch.float64)))
    for tau in (10.0, 1.0, 0.1):
        sampler = GdasSampler()
        sampler.temperature = tau
        _fixed(sampler, g, monkeypatch)
        w = sampler.sample({"cell": alpha}, phase="weights")["cell"]
        k_star = (alpha + g).argmax(-1)
        assert torch.equal(k_star, (torch.log_softmax(alpha, -1) + g).argmax(-1))
        assert torch.equal(w.active, k_star)
        torch.testing.assert_close(w.weights, nn.functional.one_hot(k_star, 5).double(), rtol=0, atol=1e-6)
        assert w.add_inactive is True and w.mask is None


def _run_edge(alpha, g, variant, monkeypatch, tau=2.0):
    """One NB201 edge: L = sum(c * out). Returns (edge, out, alpha.grad, y, k*, counts, x, c)."""
    torch.manual_seed(1)
    edge = _edge()
    counts = [0] * len(edge.ops)
    for k, op in enumerate(edge.ops):
        op.register_forward_hook(lambda mod, inp, out, k=k: counts.__setitem__(k, counts[k] + 1))
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    c = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    sampler = GdasSampler(GdasConfig(variant=variant))
    sampler.temperature = tau
    _fixed(sampler, g, monkeypatch)
    a = alpha.clone().requires_grad_()
    w = sampler.sample({"cell": a}, phase="weights")["cell"]
    out = edge(x, w, 0)
    (out * c).sum().backward()
    y = sampler.soft(alpha, g)
    return edge, out, a.grad, y, int(w.active[0]), counts, x, c


def _noise_selecting(k: int) -> torch.Tensor:
    g = torch.zeros(1, 5, dtype=torch.float64)
    g[0, k] = 3.0
    return g


def test_only_the_selected_op_runs_and_gets_gradients(monkeypatch):
    alpha = 1e-3 * torch.randn(1, 5, dtype=torch.float64)
    edge, out, _, _, k, counts, x, _ = _run_edge(alpha, _noise_selecting(CONV3), "nb201", monkeypatch)
    assert k == CONV3
    assert counts == [0, 0, 0, 1, 0]
    torch.testing.assert_close(out, edge.ops[CONV3](x), rtol=1e-6, atol=1e-6)
    for j, op in enumerate(edge.ops):
        for p in op.parameters():
            assert (p.grad is not None) == (j == CONV3)


@pytest.mark.parametrize("variant", ["nb201", "single"])
@pytest.mark.parametrize("selected", [CONV3, 1, 0])
def test_arch_gradient_equals_soft_gumbel_jacobian_product(variant, selected, monkeypatch):
    alpha = torch.tensor([[0.2, -0.1, 0.4, 0.0, -0.3]], dtype=torch.float64)
    tau = 2.0
    edge, _, grad, y, k, _, x, c = _run_edge(alpha, _noise_selecting(selected), variant, monkeypatch, tau)
    assert k == selected
    # dL/dy_k*: sum(dL/dout * o_k*(x)); dL/dy_k (k != k*): sum(dL/dout) in the nb201 form, 0 in single.
    dl_dy = torch.zeros(5, dtype=torch.float64)
    if variant == "nb201":
        dl_dy[:] = c.sum()
    dl_dy[k] = (c * edge.ops[k](x)).sum()
    y = y[0]
    jac = (torch.diag(y) - torch.outer(y, y)) / tau  # dy_i / dalpha_j
    expected = (dl_dy @ jac).unsqueeze(0)
    assert torch.isfinite(grad).all()
    if not (variant == "single" and selected == 0):  # single form with `none` selected: out == 0, no signal
        assert (grad.abs() > 0).all()
    torch.testing.assert_close(grad, expected, rtol=1e-6, atol=1e-9)


def test_row_shift_changes_nothing(monkeypatch):
    torch.manual_seed(2)
    alpha = torch.randn(1, 5, dtype=torch.float64)
    g = -torch.log(-torch.log(torch.rand(1, 5, dtype=torch.float64)))
    _, out1, grad1, _, k1, _, _, _ = _run_edge(alpha, g, "nb201", monkeypatch)
    _, out2, grad2, _, k2, _, _, _ = _run_edge(alpha + 5.0, g, "nb201", monkeypatch)
    assert k1 == k2
    torch.testing.assert_close(out1, out2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad1, grad2, rtol=1e-9, atol=1e-12)
    s = GdasSampler()
    _fixed(s, g, monkeypatch)
    torch.testing.assert_close(s.hard(alpha)[0], s.hard(alpha + 5.0)[0], rtol=0, atol=1e-12)


def test_temperature_schedule_reaches_tau_min_in_the_last_epoch():
    sampler = GdasSampler()
    values = []
    for e in range(250):
        sampler.set_epoch(e, 250)
        values.append(sampler.temperature)
    assert values[0] == 10.0
    assert math.isclose(values[1], 9.9602410, abs_tol=1e-7)
    assert math.isclose(values[124], 5.069880, abs_tol=1e-6)
    assert math.isclose(values[248], 0.139759, abs_tol=1e-6)
    assert math.isclose(values[249], 0.1, abs_tol=1e-12)
    assert sampler.status() == {"temperature": values[249]}
    with pytest.raises(ValueError, match="> 0"):
        GdasConfig(temperature=Schedule(kind="linear", start=10.0, end=-1.0))
    with pytest.raises(ValueError):
        GdasConfig(variant="v1")


def test_non_finite_noise_is_redrawn(monkeypatch):
    sampler = GdasSampler()
    calls = []
    good = torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0]])

    def gumbel(like):
        calls.append(1)
        return torch.full_like(like, math.inf) if len(calls) == 1 else good.clone()

    monkeypatch.setattr(sampler, "gumbel", gumbel)
    w = sampler.sample({"cell": torch.zeros(1, 5)}, phase="arch")["cell"]
    assert len(calls) == 2
    assert torch.isfinite(w.weights).all() and int(w.active[0]) == 1
    monkeypatch.setattr(sampler, "gumbel", lambda like: torch.full_like(like, math.nan))
    with pytest.raises(FloatingPointError, match="not finite"):
        sampler.sample({"cell": torch.zeros(1, 5)}, phase="arch")


def test_genotype_depends_only_on_alpha():
    torch.manual_seed(3)
    alpha = torch.randn(6, 5)
    sampler = GdasSampler()
    samples = [sampler.sample({"cell": alpha}, phase="eval")["cell"].active for _ in range(20)]
    assert any(not torch.equal(samples[0], s) for s in samples[1:])  # the noise does change the sample
    derived = [sampler.derive_params({"cell": alpha})["cell"].argmax(-1) for _ in range(2)]
    assert torch.equal(derived[0], derived[1]) and torch.equal(derived[0], alpha.argmax(-1))
    torch.testing.assert_close(sampler.probs({"cell": alpha})["cell"], torch.softmax(alpha, -1))


# ---- the host's conformance suite (style G14) ----


class TestGdasSamplerContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return GdasSampler()
