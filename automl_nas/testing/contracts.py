"""Contract suites for plugin authors: subclass and provide one fixture.

Example::

    class TestMySpace(SearchSpaceContract):
        @pytest.fixture
        def space(self):
            return MySpace(MyConfig())

Every first-party plugin and the outside test plugin run these, and
``tests/test_conformance.py`` runs them over every registered component.
"""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import EvalContext, Genotype, InputSpec, LossContext

TINY = InputSpec(channels=3, height=8, width=8, num_classes=3)


class SearchSpaceContract:
    """Needs a ``space`` fixture (a small instance: few channels, few cells)."""

    @pytest.fixture
    def inputs(self):
        return TINY

    def test_groups_have_ops_and_edges(self, space):
        for group in space.groups():
            assert group.ops and group.edges and group.cells >= 1

    def test_derive_parse_round_trip(self, space):
        gen = torch.Generator().manual_seed(0)
        params = {g.name: torch.randn(g.shape, generator=gen) for g in space.groups()}
        genotype = space.derive(params)
        assert isinstance(genotype, Genotype)
        assert space.parse(genotype.text) == genotype

    def test_derive_is_deterministic(self, space):
        params = {g.name: torch.randn(g.shape, generator=torch.Generator().manual_seed(1)) for g in space.groups()}
        assert space.derive(params) == space.derive({k: v.clone() for k, v in params.items()})

    def test_encode_decode_round_trip(self, space):
        n = space.size()
        if n is None:
            return  # not enumerable: nothing to round-trip
        for index in sorted({0, 1, n // 2, n - 1}):
            assert space.encode(space.decode(index)) == index
            assert space.from_ops(space.to_ops(space.decode(index))) == space.decode(index)

    def test_supernet_forward_backward(self, space, inputs):
        net = space.build_supernet(inputs)
        params = {g.name: torch.zeros(g.shape, requires_grad=True) for g in space.groups()}
        from automl_nas.api import EdgeWeights

        sample = {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()}
        x = torch.randn(2, inputs.channels, inputs.height, inputs.width)
        out = net(x, sample)
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (2, inputs.num_classes)
        logits.sum().backward()
        assert all(p.grad is not None for p in params.values())

    def test_standalone_network(self, space, inputs):
        params = {g.name: torch.randn(g.shape, generator=torch.Generator().manual_seed(2)) for g in space.groups()}
        net = space.build_network(space.derive(params), inputs).eval()
        out = net(torch.randn(2, inputs.channels, inputs.height, inputs.width))
        assert (out[0] if isinstance(out, tuple) else out).shape == (2, inputs.num_classes)


class SamplerContract:
    """Needs a ``sampler`` fixture; optionally override ``groups``."""

    @pytest.fixture
    def groups(self):
        from automl_nas.api import GroupSpec

        return [GroupSpec(name="cell", ops=("a", "b", "c", "d", "e"), edges=tuple(str(i) for i in range(6)))]

    def test_samples_on_simplex(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        sampler.set_epoch(0, 10)
        for phase in ("weights", "arch", "eval"):
            for group, w in sampler.sample(params, phase=phase).items():
                assert w.weights.shape == params[group].shape
                assert torch.all(w.weights >= -1e-6)
                torch.testing.assert_close(w.weights.sum(-1), torch.ones(w.weights.shape[0]), atol=1e-5, rtol=0)

    def test_probs_on_simplex(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        for p in sampler.probs(params).values():
            torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0]), atol=1e-5, rtol=0)

    def test_deterministic_under_seed(self, sampler, groups):
        def draw():
            torch.manual_seed(123)
            params = sampler.init_params(groups, torch.Generator().manual_seed(0))
            sampler.set_epoch(0, 10)
            return {k: w.weights.detach() for k, w in sampler.sample(params, phase="weights").items()}

        a, b = draw(), draw()
        for k in a:
            assert torch.equal(a[k], b[k])

    def test_gradient_reaches_params(self, sampler, groups):
        params = {k: v.clone().requires_grad_(True) for k, v in sampler.init_params(groups, torch.Generator().manual_seed(0)).items()}
        sampler.set_epoch(0, 10)
        sample = sampler.sample(params, phase="arch")
        c = torch.randn(params["cell"].shape, generator=torch.Generator().manual_seed(3))
        (sample["cell"].weights * c).sum().backward()
        assert torch.isfinite(params["cell"].grad).all() and params["cell"].grad.abs().sum() > 0


class ObjectiveContract:
    """Needs ``objective`` and ``loss_context`` fixtures."""

    def test_returns_finite_scalar(self, objective, loss_context):
        value = objective(loss_context)
        assert value.dim() == 0 and torch.isfinite(value)

    def test_declares_phases(self, objective):
        assert objective.phases and set(objective.phases) <= {"weights", "arch", "single"}


class EvaluatorContract:
    """Needs ``evaluator``, ``genotype`` and ``eval_context`` fixtures."""

    def test_declared_metrics_present(self, evaluator, genotype, eval_context):
        metrics = evaluator.evaluate(genotype, eval_context)
        assert set(evaluator.metrics) <= set(metrics)
        assert all(isinstance(v, (int, float)) for v in metrics.values())

    def test_deterministic(self, evaluator, genotype, eval_context):
        torch.manual_seed(0)
        a = evaluator.evaluate(genotype, eval_context)
        torch.manual_seed(0)
        assert evaluator.evaluate(genotype, eval_context) == a


__all__ = ["EvaluatorContract", "ObjectiveContract", "SamplerContract", "SearchSpaceContract", "LossContext", "EvalContext"]
