"""DARTS sampler invariants (algorithms.md §10.3, items 1-2; 3-4 are the engine's)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automl_nas.testing.contracts import SamplerContract
from automl_nas.api import GroupSpec
from automl_nas.nn import MixedOp

from automl_nas_darts.config import DartsConfig
from automl_nas_darts.sampler import DartsSampler

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class Zero(nn.Module):
    is_zero = True

    def forward(self, x):
        return x * 0


def _ops(c: int) -> list[nn.Module]:
    def rcb(k):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c, affine=False))

    return [Zero(), nn.Identity(), rcb(1), rcb(3), nn.AvgPool2d(3, 1, 1, count_include_pad=False)]


class TinyCell(nn.Module):
    """An NB201-shaped cell (4 nodes, 6 mixed edges) with a linear head."""

    def __init__(self, c: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1, bias=False)
        self.edges = nn.ModuleList(MixedOp(_ops(c)) for _ in EDGES)
        self.head = nn.Linear(c, classes)

    def forward(self, x, sample):
        w = sample["cell"]
        nodes = [self.stem(x)]
        for i in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[j], w, e) for e, (t, j) in enumerate(EDGES) if t == i))
        return self.head(nodes[-1].mean((2, 3)))


def _group() -> GroupSpec:
    return GroupSpec(name="cell", ops=OPS, edges=tuple(f"{i}<-{j}" for i, j in EDGES))


def test_weights_are_softmax_and_rows_sum_to_one():
    sampler = DartsSampler(DartsConfig())
    params = sampler.init_params([_group()], torch.Generator().manual_seed(0))
    assert params["cell"].shape == (6, 5)
    assert params["cell"].abs().max() < 1e-2  # 1e-3 * N(0, 1): initially uniform
    alpha = torch.randn(6, 5, dtype=torch.float64)
    for phase in ("weights", "arch", "eval"):
        w = sampler.sample({"cell": alpha}, phase=phase)["cell"]
        assert w.active is None and w.mask is None
        torch.testing.assert_close(w.weights, torch.softmax(alpha, -1), rtol=0, atol=0)
        torch.testing.assert_close(w.weights.sum(-1), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(sampler.probs({"cell": alpha})["cell"], torch.softmax(alpha, -1))
    assert sampler.derive_params({"cell": alpha})["cell"] is alpha
    assert sampler.regularizer({"cell": alpha}) is None


def test_arch_gradient_nonzero_for_every_edge_and_op():
    torch.manual_seed(0)
    net = TinyCell().double()
    sampler = DartsSampler()
    alpha = (1e-3 * torch.randn(6, 5, dtype=torch.float64)).requires_grad_()
    x, y = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    loss = nn.functional.cross_entropy(net(x, sampler.sample({"cell": alpha}, phase="arch")), y)
    loss.backward()
    assert torch.isfinite(alpha.grad).all()
    assert (alpha.grad.abs() > 0).all(), alpha.grad


def test_mixed_edge_is_softmax_weighted_sum_of_ops():
    torch.manual_seed(1)
    ops = _ops(4)
    edge = MixedOp(ops).double()
    alpha = torch.randn(1, 5, dtype=torch.float64)
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = DartsSampler().sample({"cell": alpha}, phase="weights")["cell"]
    expected = sum(w.weights[0, k] * op(x) for k, op in enumerate(edge.ops))
    torch.testing.assert_close(edge(x, w, 0), expected)


# ---- the host's conformance suite (style G14) ----


class TestDartsSamplerContract(SamplerContract):
    @pytest.fixture
    def sampler(self):
        return DartsSampler()
