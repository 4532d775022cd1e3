"""DrNAS distribution invariants (algorithms.md §10.6, items 1-5 and 9)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from automl_nas.testing.contracts import SamplerContract
from automl_nas.nn import MixedOp

from automl_nas_drnas.config import DrnasConfig
from automl_nas_drnas.dirichlet import concentration, kl_to_uniform
from automl_nas_drnas.sampler import DrnasSampler


def test_concentration_is_elu_plus_one_and_positive():
    eta = torch.tensor([0.0, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(concentration(eta), torch.tensor([1.0, 0.3678794, 3.0], dtype=torch.float64),
                               rtol=0, atol=1e-7)
    grid = torch.linspace(-50, 50, 10_001)
    for dtype in (torch.float32, torch.float64):
        beta = concentration(grid.to(dtype))
        assert (beta > 0).all()
        torch.testing.assert_close(beta, nn.functional.elu(grid.to(dtype)) + 1, rtol=1e-6, atol=1e-6)


def test_samples_lie_on_the_simplex_and_average_to_the_mean():
    torch.manual_seed(0)
    eta = torch.randn(6, 5)
    sampler = DrnasSampler()
    for phase in ("weights", "arch", "eval"):
        w = sampler.sample({"cell": eta}, phase=phase)["cell"]
        assert w.weights.shape == (6, 5) and w.mask is None and w.active is None
        assert (w.weights >= 0).all()
        torch.testing.assert_close(w.weights.sum(-1), torch.ones(6), rtol=0, atol=1e-6)
    many = sampler.sample({"cell": eta.expand(20_000, 6, 5)}, phase="arch")["cell"].weights
    beta = concentration(eta)
    torch.testing.assert_close(many.mean(0), beta / beta.sum(-1, keepdim=True), rtol=0, atol=0.01)
    torch.testing.assert_close(sampler.probs({"cell": eta})["cell"], beta / beta.sum(-1, keepdim=True))


@pytest.mark.parametrize("beta_value", [0.1, 1.0, 10.0])
def test_pathwise_gradient_is_finite_and_nonzero(beta_value):
    torch.manual_seed(1)
    # eta with beta in [0.1, 10] around the given value
    beta = beta_value * torch.exp(0.1 * torch.randn(6, 5, dtype=torch.float64))
    eta = torch.where(beta > 1, beta - 1, torch.log(beta)).requires_grad_()
    torch.testing.assert_close(concentration(eta), beta)
    c = torch.randn(6, 5, dtype=torch.float64)
    theta = DrnasSampler().sample({"cell": eta}, phase="arch")["cell"].weights
    (grad,) = torch.autograd.grad((c * theta).sum(), eta)
    assert torch.isfinite(grad).all() and (grad != 0).all()


def test_kl_closed_form_and_regularizer():
    one = torch.ones(3, dtype=torch.float64)
    assert float(kl_to_uniform(one)) == pytest.approx(0.0, abs=1e-12)
    assert float(kl_to_uniform(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64))) == pytest.approx(0.2652790, abs=1e-6)
    torch.manual_seed(2)
    beta = torch.exp(torch.randn(50, 5, dtype=torch.float64))
    kl = kl_to_uniform(beta)
    ref = torch.distributions.kl_divergence(torch.distributions.Dirichlet(beta),
                                            torch.distributions.Dirichlet(torch.ones_like(beta)))
    torch.testing.assert_close(kl, ref)
    assert (kl >= 0).all()

    eta = {"cell": torch.randn(6, 5, dtype=torch.float64)}
    assert DrnasSampler(DrnasConfig()).regularizer(eta) is None  # l2: Adam weight decay does it
    reg = DrnasSampler(DrnasConfig(reg_type="kl", reg_scale=0.5)).regularizer(eta)
    assert float(reg) == pytest.approx(0.5 * float(kl_to_uniform(concentration(eta["cell"])).sum()), rel=1e-12)


def test_kl_goes_to_the_architecture_loss_only():
    torch.manual_seed(3)
    edge = MixedOp([nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 3, padding=1)]).double()
    x = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    eta = torch.randn(1, 2, dtype=torch.float64, requires_grad=True)
    grads = []
    for scale in (0.0, 10.0):
        torch.manual_seed(4)  # same Dirichlet draw
        sampler = DrnasSampler(DrnasConfig(reg_type="kl", reg_scale=scale))
        edge.zero_grad()
        loss = edge(x, sampler.sample({"cell": eta}, phase="arch")["cell"], 0).pow(2).mean()
        (loss + sampler.regularizer({"cell": eta})).backward()
        grads.append([p.grad.clone() for p in edge.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pruning_masks_and_renormalises():
    eta = nn.Parameter(torch.tensor([[0.1, 0.5, -0.2, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64))
    sampler = DrnasSampler(DrnasConfig(stage_epochs=[1, 1], keep_ops=[5, 3]))
    assert sampler.prune({"cell": eta}, 3) == {"cell": 4}
    mask = sampler.masks["cell"]
    assert mask[0].tolist() == [True, True, False, True, False]
    assert mask[1].tolist() == [True, True, True, False, False]  # ties go to the lower index
    assert eta[0].tolist() == [0.1, 0.5, 0.0, 0.3, 0.0]
    for _ in range(5):
        w = sampler.sample({"cell": eta}, phase="weights")["cell"]
        assert torch.equal(w.mask, mask)
        assert (w.weights[~mask] == 0).all()
        torch.testing.assert_close(w.weights.sum(-1), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    p = sampler.probs({"cell": eta})["cell"]
    assert (p[~mask] == 0).all()
    # A second prune only considers the kept ops.
    sampler.prune({"cell": eta}, 2)
    assert sampler.masks["cell"][0].tolist() == [False, True, False, True, False]


def test_pruned_ops_are_not_executed():
    torch.manual_seed(5)
    ops = [nn.Conv2d(2, 2, 1) for _ in range(5)]
    calls = [0] * 5
    for k, op in enumerate(ops):
        op.register_forward_hook(lambda m, i, o, k=k: calls.__setitem__(k, calls[k] + 1))
    edge = MixedOp(ops)
    eta = nn.Parameter(torch.tensor([[0.1, 0.5, -0.2, 0.3, 0.0]]))
    sampler = DrnasSampler()
    sampler.prune({"cell": eta}, 3)
    x = torch.randn(1, 2, 4, 4)
    w = sampler.sample({"cell": eta}, phase="eval")["cell"]
    out = edge(x, w, 0)
    assert calls == [1, 1, 0, 1, 0]
    torch.testing.assert_close(out, sum(w.weights[0, k] * ops[k](x) for k in (0, 1, 3)))


def test_genotype_is_masked_argmax_of_eta_and_ignores_the_noise():
    torch.manual_seed(6)
    eta = nn.Parameter(torch.randn(6, 5))
    sampler = DrnasSampler()
    draws = [sampler.sample({"cell": eta}, phase="eval")["cell"].weights for _ in range(3)]
    assert not torch.equal(draws[0], draws[1])
    d0 = sampler.derive_params({"cell": eta})["cell"]
    assert torch.equal(d0.argmax(-1), eta.argmax(-1))
    best = eta.detach().argmax(-1)
    sampler.prune({"cell": eta}, 2)
    derived = sampler.derive_params({"cell": eta})["cell"]
    assert torch.isinf(derived[~sampler.masks["cell"]]).all()
    assert torch.equal(derived.argmax(-1), best)  # the best op is always kept
    # Force the largest eta onto a pruned op: argmax must still avoid it.
    with torch.no_grad():
        eta[~sampler.masks["cell"]] = 100.0
    derived = sampler.derive_params({"cell": eta})["cell"]
    assert sampler.masks["cell"].gather(1, derived.argmax(-1, keepdim=True)).all()


def test_config_validation():
    assert DrnasConfig(stage_epochs=[50, 50], partial_channels=[4, 2], keep_ops=[5, 3]).keep_ops == (5, 3)
    with pytest.raises(ValueError, match="one value per stage"):
        DrnasConfig(stage_epochs=[50, 50], keep_ops=[5])
    with pytest.raises(ValueError, match=">= 1"):
        DrnasConfig(stage_epochs=[50, 0])
    with pytest.raises(ValueError):
        DrnasConfig(reg_type="l1")
    assert math.isclose(DrnasConfig().reg_scale, 1e-3)


# ---- the host's conformance suite (style G14) ----


class TestDrnasSamplerContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return DrnasSampler()
