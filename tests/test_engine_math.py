"""Engine invariants of algorithms.md §10.3: first/second-order arch gradients and the cosine lr."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from automl_nas.api import EdgeWeights
from automl_nas.nn import MixedOp
from automl_nas.engine.distributed import World
from automl_nas.engine.run import Search
from automl_nas.engine.second_order import unrolled_arch_grad
from automl_nas.schedules import Schedule


class Tiny(nn.Module):
    """One mixed edge of linear ops + a linear head."""

    def __init__(self):
        super().__init__()
        self.edge = MixedOp([nn.Linear(4, 4), nn.Linear(4, 4, bias=False), nn.Identity()])
        self.head = nn.Linear(4, 3)

    def forward(self, x, sample):
        return self.head(torch.tanh(self.edge(x, sample["cell"], 0)))


def make_search(order="second"):
    torch.manual_seed(0)
    net = Tiny().double()
    alpha = nn.Parameter(torch.randn(1, 3, dtype=torch.float64))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-3)
    run = SimpleNamespace(supernet=net, params={"cell": alpha}, weight_optimizer=opt,
                          arch_optimizer=torch.optim.Adam([alpha], lr=3e-4))
    recipe = SimpleNamespace(search=SimpleNamespace(second_order=order == "second",
                                                    arch_optimizer=SimpleNamespace(grad_clip=0.0)))
    # one process: no sharding, no all-reduce, per-batch statistics
    search = SimpleNamespace(run=run, recipe=recipe, world=World(), batch_statistics=contextlib.nullcontext)

    def loss(phase, x, y):
        sample = {"cell": EdgeWeights(weights=torch.softmax(alpha, -1))}
        logits = net(x, sample)
        return nn.functional.cross_entropy(logits, y), logits, sample

    search.loss = loss
    return search, net, alpha, opt


def data(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g)


def test_second_order_matches_exact_hessian_vector_product():
    search, net, alpha, opt = make_search()
    xt, yt = data(1)
    xv, yv = data(2)
    # one real step so that momentum buffers exist (the virtual step must use them)
    opt.zero_grad()
    search.loss("weights", xt, yt)[0].backward()
    opt.step()
    weights = list(net.parameters())
    before = [w.detach().clone() for w in weights]
    _, (grad,) = unrolled_arch_grad(search, xv, yv, xt, yt)
    for w, b in zip(weights, before):
        assert torch.equal(w, b), "weights must be restored bit-exactly"

    # exact: w' = w - xi (mu m + g + wd w); a = dLval(w')/dalpha; h = d/dalpha (grad_w Ltrain(w) . v)
    xi, mu, wd = 0.05, 0.9, 3e-3
    gtrain = torch.autograd.grad(search.loss("weights", xt, yt)[0], weights)
    with torch.no_grad():
        for w, g in zip(weights, gtrain):
            w.sub_(xi * (mu * opt.state[w]["momentum_buffer"] + g + wd * w))
    lv = search.loss("arch", xv, yv)[0]
    *v, a = torch.autograd.grad(lv, weights + [alpha])
    with torch.no_grad():
        for w, b in zip(weights, before):
            w.copy_(b)
    gw = torch.autograd.grad(search.loss("weights", xt, yt)[0], weights, create_graph=True)
    (h,) = torch.autograd.grad(sum((g * vi).sum() for g, vi in zip(gw, v)), [alpha])
    expected = a - xi * h
    torch.testing.assert_close(grad, expected, rtol=1e-3, atol=1e-9)
    assert not torch.allclose(grad, a), "the second-order term must matter in this test"


def test_first_order_arch_step_uses_autograd_gradient_and_keeps_weights():
    search, net, alpha, opt = make_search(order="first")
    xv, yv = data(2)
    before = [w.detach().clone() for w in net.parameters()]
    expected = torch.autograd.grad(search.loss("arch", xv, yv)[0], [alpha])[0]
    alpha_before = alpha.detach().clone()
    Search.arch_step(search, xv, yv, None, None)
    torch.testing.assert_close(alpha.grad, expected)
    assert all(torch.equal(w, b) for w, b in zip(net.parameters(), before))
    assert not torch.equal(alpha.detach(), alpha_before)


def test_softmax_gradient_reaches_every_entry():
    search, net, alpha, _ = make_search(order="first")
    xv, yv = data(3)
    (g,) = torch.autograd.grad(search.loss("arch", xv, yv)[0], [alpha])
    assert torch.all(g != 0)


def test_cosine_lr_matches_reference_values():
    lr = Schedule(kind="cosine", start=0.025, end=0.001, endpoint=False)
    assert lr.value(0, 50) == pytest.approx(0.025)
    assert lr.value(25, 50) == pytest.approx(0.013)
    assert lr.value(49, 50) == pytest.approx(0.0010237, abs=1e-7)


@pytest.mark.parametrize("epoch,expected", [(0, 10.0), (1, 9.960241), (124, 5.069880), (248, 0.139759), (249, 0.1)])
def test_linear_schedule_with_endpoint(epoch, expected):
    assert Schedule(kind="linear", start=10, end=0.1).value(epoch, 250) == pytest.approx(expected, abs=1e-6)


def test_linear_schedule_with_offset_snas():
    s = Schedule(kind="linear", start=1.0, end=0.03, span=150, offset=1)
    assert s.value(0, 150) == pytest.approx(0.9935333, abs=1e-7)
    assert s.value(49, 150) == pytest.approx(0.6766667, abs=1e-7)
    assert s.value(149, 150) == pytest.approx(0.03)
    assert s.value(300, 400) == pytest.approx(0.03)


def test_exponential_and_constant():
    assert Schedule(kind="exponential", start=1.0, end=0.01, span=2).value(1, 3) == pytest.approx(0.1)
    assert Schedule(start=3.0).value(5, 10) == 3.0
