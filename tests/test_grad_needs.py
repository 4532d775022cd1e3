"""automl_nas.nn.grad_needs: custom Functions compute only the gradients the running backward takes."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from automl_nas.nn import depthwise, depthwise_conv2d, folded_batch_norm, weighted_sum
from automl_nas.nn.grad_needs import record_inputs, wanted_grads


class _Probe(torch.autograd.Function):
    """``a * b`` with a non-tensor and a None argument around the tensors; logs wanted_grads."""

    seen: list[tuple[bool, ...]] = []

    @staticmethod
    def forward(ctx, n, a, nothing, b):
        record_inputs(ctx, n, a, nothing, b)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        _Probe.seen.append(wanted_grads(ctx))
        a, b = ctx.saved_tensors
        return None, grad * b, None, grad * a


@pytest.fixture
def probe():
    _Probe.seen.clear()
    return _Probe


def test_an_inputs_restricted_backward_wants_only_the_path_to_those_inputs(probe):
    alpha, weight = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    out = probe.apply(7, alpha * 2, None, torch.cat([weight]))  # non-leaf weight, as a grouped conv's
    out.sum().backward(inputs=[alpha], retain_graph=True)
    out.sum().backward(inputs=[weight], retain_graph=True)
    out.sum().backward()
    # Positions follow the forward's arguments: the int and the None are never wanted.
    assert probe.seen == [(False, True, False, False), (False, False, False, True), (False, True, False, True)]
    assert weight.grad is not None and alpha.grad is not None


def test_autograd_grad_wants_the_leaves_asked_for(probe):
    # Inside torch.autograd.grad the engine raises for a requested leaf's node (wanted_grads then
    # assumes it wanted) and answers for the others.
    a, b = torch.randn(3, requires_grad=True), torch.randn(3, requires_grad=True)
    (g,) = torch.autograd.grad(probe.apply(1, a, None, b).sum(), [a])
    assert probe.seen == [(False, True, False, False)] and torch.equal(g, b.detach())
    ga, gb = torch.autograd.grad(probe.apply(1, a, None, b).sum(), [a, b])
    assert probe.seen[1] == (False, True, False, True) and torch.equal(gb, a.detach())


def test_an_input_that_requires_no_grad_is_not_wanted(probe):
    a = torch.randn(3, requires_grad=True)
    probe.apply(1, a, None, torch.randn(3)).sum().backward()
    assert probe.seen == [(False, True, False, False)]


def test_depthwise_arch_step_skips_the_weight_gradient(monkeypatch):
    calls = []
    real = depthwise._grad_weight
    monkeypatch.setattr(depthwise, "_grad_weight", lambda *a: calls.append(1) or real(*a))
    alpha = torch.tensor(0.7, requires_grad=True)
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    w = torch.randn(4, 1, 3, 3, requires_grad=True)
    out = depthwise_conv2d(x * alpha, w, 1, 1, 1)
    out.square().sum().backward(inputs=[alpha], retain_graph=True)
    assert calls == []  # an arch step: the weight gradient would be dropped
    want = torch.autograd.grad(F.conv2d(x * alpha, w, None, 1, 1, 1, 4).square().sum(), alpha)[0]
    torch.testing.assert_close(alpha.grad, want)
    out.square().sum().backward()
    assert calls == [1] and w.grad is not None  # a weight step still gets it


def test_folded_batch_norm_skips_the_input_gradient_nobody_takes(monkeypatch):
    x = torch.randn(4, 8, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    scale = torch.rand(8, requires_grad=True)
    y = folded_batch_norm.batch_norm(x, None, None, scale, None, True, 0.1, 1e-5)
    assert y.grad_fn.name() == "_FoldedBatchNormBackward"
    seen = []
    real = folded_batch_norm.wanted_grads
    monkeypatch.setattr(folded_batch_norm, "wanted_grads", lambda ctx: seen.append(real(ctx)) or seen[-1])
    (y * torch.randn(y.shape)).sum().backward(inputs=[scale])
    assert seen[0][:3] == (False, True, False) and x.grad is None and scale.grad is not None


def test_weighted_sum_aligns_its_wanted_gradients_past_the_count_argument():
    xs = [torch.randn(2, 3, requires_grad=True) for _ in range(3)]
    w = torch.tensor(0.5, requires_grad=True)
    out = weighted_sum([(xs[0], None), (xs[1], w), (xs[2], None)], xs[0])
    out.sum().backward(inputs=[w])
    assert w.grad.item() == pytest.approx(xs[1].sum().item(), rel=1e-6)
    assert all(x.grad is None for x in xs)


class _ThreeFunctions(torch.nn.Module):
    """A depthwise conv, a folded batch norm and a weighted sum: the Functions that ask wanted_grads."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(8, 1, 3, 3))
        self.s = torch.nn.Parameter(torch.rand(8) + 0.5)

    def forward(self, x, alpha):
        h = depthwise_conv2d(x * alpha[0], self.w, 1, 1, 1)
        h = folded_batch_norm.batch_norm(h, None, None, self.s, None, True, 0.1, 1e-5)
        return weighted_sum([(h, alpha[1]), (x, alpha[2])], h)


@pytest.mark.parametrize("wanted", ["alpha", "weights", "all"])
def test_a_compiled_supernet_takes_the_same_gradients(wanted):
    # run.compile traces the Functions' backwards ahead of time (AOTAutograd): the engine's answer
    # must not be baked into the compiled graph.
    torch.manual_seed(0)
    net = _ThreeFunctions()
    x = torch.randn(4, 8, 8, 8).contiguous(memory_format=torch.channels_last)
    grads = []
    for forward in (net, torch.compile(net, backend="aot_eager")):
        alpha = torch.tensor([0.7, 0.4, 0.2], requires_grad=True)
        net.zero_grad(set_to_none=True)
        inputs = {"alpha": [alpha], "weights": list(net.parameters()), "all": [alpha, *net.parameters()]}[wanted]
        forward(x, alpha).square().sum().backward(inputs=inputs)
        grads.append([t.grad for t in (alpha, *net.parameters())])
    eager, compiled = grads
    assert [g is None for g in compiled] == [g is None for g in eager] == [all(t is not i for i in inputs) for t in (alpha, *net.parameters())]
    for a, b in zip(eager, compiled):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
