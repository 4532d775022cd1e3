"""SNAS resource objective (algorithms.md §5.4, §10.4 items 5-6)."""

from __future__ import annotations

import math

import pytest
import torch

from automl_nas.testing.contracts import ObjectiveContract
from automl_nas.api import EdgeWeights, LossContext

from automl_nas_snas.config import SnasResourceConfig
from automl_nas_snas.resource import SnasResource
from automl_nas_snas.sampler import SnasSampler

# DARTS ops at stride 1, C = 16, H = 32 (spec §5.4 reference values), in DARTS op order:
# none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5
P = [0, 0, 0, 0, 800, 1312, 400, 656]
F = [0, 147456, 147456, 0, 819200, 1343488, 409600, 671744]
M = [0, 32768, 32768, 32768, 131872, 132384, 65936, 66192]
SEP3, NONE = 4, 0


def _lin() -> torch.Tensor:
    """Per-op linear cost 0.43 (2 P + F / 4000 + M / 100) in float64."""
    p, f, m = (torch.tensor(v, dtype=torch.float64) for v in (P, F, M))
    return 0.43 * (2 * p + f / 4000 + m / 100)


def _table(cells: int = 1, edges: int = 1) -> dict[str, torch.Tensor]:
    def t(v):
        return torch.tensor(v, dtype=torch.float64).expand(cells, edges, 8).clone()

    return {"params": t(P), "flops": t(F), "mac": t(M)}


def _ctx(z: dict, params: dict, costs: dict, sampler=None) -> LossContext:
    return LossContext(phase="arch", logits=None, targets=None, params=params,
                       sample={g: EdgeWeights(weights=w) for g, w in z.items()},
                       sampler=sampler or SnasSampler(), costs=costs)


def _onehot(k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor([k]), 8).double()


@pytest.mark.parametrize("combine,expected", [("linear", 1343.1136), ("log", 10.696761)])
def test_reference_cost_of_sep_conv_3x3(combine, expected):
    term = SnasResource(SnasResourceConfig(combine=combine))
    a = {"normal": torch.zeros(1, 8, dtype=torch.float64)}
    r = term(_ctx({"normal": _onehot(SEP3)}, a, {"normal": _table()}))
    assert math.isclose(float(r), expected, rel_tol=1e-7)
    assert float(term(_ctx({"normal": _onehot(NONE)}, a, {"normal": _table()}))) == 0.0
    # Hand formula of §5.4.
    assert math.isclose(0.43 * (2 * 800 + 819200 / 4000 + 131872 / 100), 1343.1136, rel_tol=1e-12)
    assert math.isclose((math.log(800) + math.log(819200) + math.log(131872)) / 3, 10.696761, rel_tol=1e-7)


def test_single_cost_and_log_plus():
    a = {"normal": torch.zeros(1, 8, dtype=torch.float64)}
    z = {"normal": _onehot(SEP3)}
    assert float(SnasResource(SnasResourceConfig(costs=["flops"], combine="linear"))(_ctx(z, a, {"normal": _table()}))) == 819200
    r = SnasResource(SnasResourceConfig(costs=["params"], combine="log"))(_ctx(z, a, {"normal": _table()}))
    assert math.isclose(float(r), math.log(800), rel_tol=1e-12)
    # |x| < 1 counts as log 1 = 0 (e.g. a tiny mixture weight on a costly op).
    tiny = torch.zeros(1, 8, dtype=torch.float64)
    tiny[0, SEP3] = 1e-4
    r = SnasResource(SnasResourceConfig(costs=["params"]))(_ctx({"normal": tiny}, a, {"normal": _table()}))
    assert float(r) == 0.0


def test_network_cost_averages_cells_and_weights_reduction():
    torch.manual_seed(0)
    costs = {g: {m: torch.rand(n, 14, 8, dtype=torch.float64) * 1000 for m in ("params", "flops", "mac")}
             for g, n in (("normal", 6), ("reduce", 2))}
    z = {g: torch.softmax(torch.randn(14, 8, dtype=torch.float64), -1) for g in costs}
    params = {g: torch.zeros(14, 8, dtype=torch.float64) for g in costs}
    r = SnasResource(SnasResourceConfig(combine="linear", ratio=0.5))(_ctx(z, params, costs))

    def edge_sum(g):  # sum over cells and edges of r_e
        c = costs[g]
        x = {m: (c[m] * z[g]).sum(-1) for m in c}
        return float((0.43 * (2 * x["params"] + x["flops"] / 4000 + x["mac"] / 100)).sum())

    assert math.isclose(float(r), edge_sum("normal") / 6 + 0.5 * edge_sum("reduce") / 2, rel_tol=1e-12)


def test_reparametrization_gradient_is_the_chain_rule_through_z():
    torch.manual_seed(1)
    sampler = SnasSampler()
    sampler.temperature = 0.7
    a = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    g = sampler.gumbel(a.detach())
    z = sampler.relax(a, g)
    costs = {"normal": _table(cells=2, edges=3)}
    r = SnasResource(SnasResourceConfig(combine="linear"))(_ctx({"normal": z}, {"normal": a}, costs, sampler))
    (grad,) = torch.autograd.grad(r, a)
    assert (grad.abs() > 0).all()
    # dr/dZ_k = 0.43 (2 P_k + F_k / 4000 + M_k / 100) (mean over 2 identical cells);
    # dZ/da = (diag(Z) - Z Z^T) / lambda per edge.
    dr_dz = _lin()
    zd = z.detach()
    expected = torch.stack([(torch.diag(zd[e]) - torch.outer(zd[e], zd[e])) @ dr_dz / 0.7 for e in range(3)])
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-10)


def test_discrete_estimator_uses_softmax_and_ignores_the_noise():
    torch.manual_seed(2)
    a = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    term = SnasResource(SnasResourceConfig(estimator="discrete", combine="linear"))
    costs = {"normal": _table(edges=3)}
    sampler = SnasSampler()
    values = []
    for _ in range(3):  # a fresh noisy sample each time
        z = {"normal": sampler.sample({"normal": a}, phase="arch")["normal"].weights}
        values.append(float(term(_ctx(z, {"normal": a}, costs, sampler)).detach()))
    p = torch.softmax(a.detach(), -1)
    lin = _lin()
    assert values[0] == values[1] == values[2]
    assert math.isclose(values[0], float((p @ lin).sum()), rel_tol=1e-12)


@pytest.mark.parametrize("combine", ["linear", "log"])
@pytest.mark.parametrize("baseline", [False, True])
def test_policy_gradient_is_a_score_function(combine, baseline):
    torch.manual_seed(3)
    sampler = SnasSampler()
    sampler.temperature = 0.8
    a = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    z = sampler.relax(a, sampler.gumbel(a.detach()))  # differentiable Z: must not leak into the term
    costs = {"normal": _table(cells=2, edges=3)}
    config = SnasResourceConfig(estimator="policy_gradient", combine=combine, minus_baseline=baseline)
    term = SnasResource(config)(_ctx({"normal": z}, {"normal": a}, costs, sampler))
    (grad,) = torch.autograd.grad(term, a)
    # Reference: r_e from the relaxed Z (no grad), times d log q(Z_e | a_e) / da at fixed Z.
    zd = z.detach()
    x = {m: (c[0] * zd).sum(-1) for m, c in costs["normal"].items()}  # both cells are identical
    if combine == "linear":
        r = 0.43 * (2 * x["params"] + x["flops"] / 4000 + x["mac"] / 100)
        base = 0.43 * (2 * sum(P) / 8 + sum(F) / 8 / 4000 + sum(M) / 8 / 100)
    else:
        r = sum(torch.log(v.clamp_min(1)) for v in x.values()) / 3
        base = sum(math.log(sum(v) / 8) for v in (P, F, M)) / 3
    if baseline:
        r = r - base
    a2 = a.detach().clone().requires_grad_()
    log_q = sampler.log_density(zd, a2)
    (score,) = torch.autograd.grad(log_q, a2, grad_outputs=r)
    torch.testing.assert_close(grad, score, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(term.detach(), (log_q.detach() * r).sum(), rtol=1e-10, atol=1e-12)


def test_config_phases_and_errors():
    assert SnasResource().phases == frozenset({"arch", "single"})
    assert SnasResourceConfig().weight == 1.5e-3
    assert SnasResourceConfig().costs == ("params", "flops", "mac")
    with pytest.raises(ValueError, match="subset"):
        SnasResourceConfig(costs=["energy"])
    with pytest.raises(ValueError, match="policy_gradient"):
        SnasResourceConfig(minus_baseline=True)
    with pytest.raises(ValueError):
        SnasResourceConfig(estimator="reinforce")
    with pytest.raises(ValueError, match="op_costs"):
        SnasResource()(_ctx({}, {}, {}))


# ---- the host's conformance suite (style G14) ----


class TestSnasResourceContract(ObjectiveContract):
    @pytest.fixture(params=["reparametrization", "discrete", "policy_gradient"])
    def objective(self, request):
        return SnasResource(SnasResourceConfig(estimator=request.param))

    @pytest.fixture
    def loss_context(self):
        sampler = SnasSampler()
        a = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
        z = sampler.sample({"normal": a}, phase="arch")["normal"].weights
        return _ctx({"normal": z}, {"normal": a}, {"normal": _table(cells=3, edges=2)}, sampler)
