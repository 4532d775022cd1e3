"""Contract suites for plugin authors: subclass and provide one fixture.

Example::

    class TestMySpace(SearchSpaceContract):
        @pytest.fixture
        def space(self):
            return MySpace(MyConfig())

Every first-party plugin and the outside test plugin run these, and
``tests/test_conformance.py`` runs them over every registered component.
Optional interface methods (``op_costs``, ``op_modules``, ``genotype_choices``,
``genotype_costs``, the encoding, op traits) and declared capabilities (``Sampler.learnable``)
are checked when the component has them; otherwise the check is *skipped with its reason*,
so a report never shows a check as passed that checked nothing.
"""

from __future__ import annotations

import json
import math

import attrs
import pytest
import torch

from automl_nas.api import (
    EdgeWeights,
    EvalContext,
    Genotype,
    GraphSet,
    GroupSpec,
    ImageSet,
    InputSpec,
    LossContext,
    child_sample,
    child_samples,
)

TINY = InputSpec(channels=3, height=8, width=8, num_classes=3)


def _optional(call, what: str):
    """``call()``; a component that does not implement that optional method skips the check,
    saying so (a skipped check is visible in the report, never a silent pass)."""
    try:
        return call()
    except NotImplementedError:
        pytest.skip(f"optional method not implemented: {what}")


def _seeded_params(space, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {g.name: torch.randn(g.shape, generator=gen) for g in space.groups()}


class SearchSpaceContract:
    """Needs a ``space`` fixture (a small instance: few channels, few cells)."""

    @pytest.fixture
    def inputs(self):
        return TINY

    def test_groups_have_ops_and_edges(self, space):
        groups = space.groups()
        assert groups, "a space has at least one architecture group"
        assert len({g.name for g in groups}) == len(groups), "group names must be unique"
        for group in groups:
            assert group.ops and group.edges and group.cells >= 1
            assert len(set(group.ops)) == len(group.ops), f"group {group.name!r} repeats an op"

    def test_derive_parse_round_trip(self, space):
        genotype = space.derive(_seeded_params(space, 0))
        assert isinstance(genotype, Genotype) and genotype.space == space.name
        assert space.parse(genotype.text) == genotype

    def test_parse_rejects_garbage(self, space):
        with pytest.raises(ValueError):
            space.parse("not a genotype of any space")

    def test_derive_is_deterministic(self, space):
        params = _seeded_params(space, 1)
        assert space.derive(params) == space.derive({k: v.clone() for k, v in params.items()})

    def test_derive_follows_the_parameters(self, space):
        # Different parameters must be able to give different genotypes (derive reads them).
        derived = {space.derive(_seeded_params(space, seed)).text for seed in range(6)}
        assert len(derived) > 1

    def test_encode_decode_round_trip(self, space):
        n = space.size()
        if n is None:
            pytest.skip(f"search space {space.name!r} is not enumerable (size() is None)")
        for index in sorted({0, 1, n // 2, n - 1}):
            assert space.encode(space.decode(index)) == index
            assert space.from_ops(space.to_ops(space.decode(index))) == space.decode(index)

    def test_supernet_forward_backward(self, space, inputs):
        net = space.build_supernet(inputs)
        params = {g.name: torch.zeros(g.shape, requires_grad=True) for g in space.groups()}
        sample = {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()}
        x = space.example_input(inputs, 2, generator=torch.Generator().manual_seed(0))
        out = net(x, sample)
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (2, inputs.num_classes) and torch.isfinite(logits).all()
        (logits * torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        for name, p in params.items():
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"group {name!r} got no finite gradient"
            assert p.grad.abs().sum() > 0, f"the supernet ignores the edge weights of group {name!r}"

    def test_standalone_network(self, space, inputs):
        net = space.build_network(space.derive(_seeded_params(space, 2)), inputs).eval()
        out = net(space.example_input(inputs, 2))
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (2, inputs.num_classes) and torch.isfinite(logits).all()

    def test_fingerprint_is_plain_data(self, space):
        fingerprint = space.fingerprint()
        assert fingerprint["name"] == space.name
        json.dumps(fingerprint)  # recorded with runs and latency tables

    def test_op_costs_match_groups(self, space, inputs):
        costs = _optional(lambda: space.op_costs(inputs), "op_costs")
        groups = {g.name: (g.cells, *g.shape) for g in space.groups()}
        assert set(costs) == set(groups)
        for name, table in costs.items():
            for metric, values in table.items():
                assert tuple(values.shape) == groups[name], f"{name}.{metric} has shape {tuple(values.shape)}"
                assert torch.isfinite(values).all() and (values >= 0).all()

    def test_genotype_choices_count_the_genotype(self, space):
        genotype = space.derive(_seeded_params(space, 3))
        choices = _optional(lambda: space.genotype_choices(genotype), "genotype_choices")
        shapes = {g.name: g.shape for g in space.groups()}
        assert set(choices) == set(shapes)
        for name, counts in choices.items():
            assert tuple(counts.shape) == shapes[name]
            assert (counts >= 0).all() and torch.equal(counts, counts.round()) and counts.sum() > 0

    def test_genotype_costs_are_positive(self, space, inputs):
        costs = _optional(lambda: space.genotype_costs(space.derive(_seeded_params(space, 4)), inputs), "genotype_costs")
        assert costs and all(math.isfinite(v) and v >= 0 for v in costs.values())

    def test_op_modules_cover_every_position(self, space, inputs):
        positions = _optional(lambda: list(space.op_modules(inputs)), "op_modules")
        expected = {(g.name, c, e, op) for g in space.groups() for c in range(g.cells)
                    for e in range(len(g.edges)) for op in g.ops}
        seen = [(p.group, p.cell, p.edge, p.op) for p in positions]
        assert len(seen) == len(set(seen)) and set(seen) == expected
        done = set()
        for p in positions:
            if (id(p.module), p.input_shape) in done:
                continue
            done.add((id(p.module), p.input_shape))
            assert isinstance(p.module, torch.nn.Module) and len(p.input_shape) == 3 and min(p.input_shape) > 0
            with torch.no_grad():
                y = p.module.train()(torch.randn(2, *p.input_shape))
            assert y.shape[0] == 2 and torch.isfinite(y).all(), f"{p.op} at {p.group}[{p.cell}] edge {p.edge}"

    def test_op_traits_name_the_group_ops(self, space):
        groups = space.groups()
        if not any(g.declares_op_traits for g in groups):
            pytest.skip(f"search space {space.name!r} declares no op traits: its collapse diagnostics are unknown (null)")
        for g in (g for g in groups if g.declares_op_traits):
            declared = set(g.zero_ops) | set(g.param_free_ops) | set(g.skip_ops)
            assert declared <= set(g.ops), f"group {g.name!r} declares traits of unknown ops {sorted(declared - set(g.ops))}"
            assert set(g.skip_ops) <= set(g.param_free_ops), "skip ops are parameter-free"
            assert not set(g.zero_ops) & set(g.param_free_ops), "zero ops are not counted as parameter-free ops"


class SamplerContract:
    """Needs a ``sampler`` fixture; optionally override ``groups``.

    A sampler whose samples are not op weights on the simplex declares
    ``samples_on_simplex = False``; its samples are then only checked for shape.
    """

    @pytest.fixture
    def groups(self):
        return [GroupSpec(name="cell", ops=("a", "b", "c", "d", "e"), edges=tuple(str(i) for i in range(6)))]

    def test_init_params_have_group_shapes(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        assert {k: tuple(v.shape) for k, v in params.items()} == {g.name: g.shape for g in groups}
        assert all(torch.isfinite(v).all() for v in params.values())

    def test_samples_on_simplex(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        sampler.set_epoch(0, 10)
        on_simplex = getattr(sampler, "samples_on_simplex", True)
        for phase in ("weights", "arch", "eval"):
            sample = sampler.sample(params, phase=phase)
            assert set(sample) == set(params)
            for group, w in sample.items():
                assert w.weights.shape == params[group].shape and torch.isfinite(w.weights).all()
                _check_active_and_mask(w, params[group].shape)
                if on_simplex:
                    assert torch.all(w.weights >= -1e-6)
                    torch.testing.assert_close(w.weights.sum(-1), torch.ones(w.weights.shape[0], dtype=w.weights.dtype),
                                               atol=1e-5, rtol=0)

    def test_probs_on_simplex(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        probs = sampler.probs(params)
        assert set(probs) == set(params)
        for group, p in probs.items():
            assert p.shape == params[group].shape and torch.all(p >= 0)
            torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-5, rtol=0)

    def test_derive_params_keep_shapes(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        derived = sampler.derive_params(params)
        assert {k: v.shape for k, v in derived.items()} == {k: v.shape for k, v in params.items()}

    def test_child_sample_is_one_hot(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        for group, w in child_sample(sampler, params, torch.Generator().manual_seed(1)).items():
            assert w.active is not None and w.active.shape == (params[group].shape[0],)
            torch.testing.assert_close(w.weights.sum(-1), torch.ones(w.weights.shape[0], dtype=w.weights.dtype))
            assert torch.equal(w.weights.argmax(-1), w.active)

    def test_child_samples_are_successive_child_draws(self, sampler, groups):
        params = sampler.init_params(groups, torch.Generator().manual_seed(0))
        one_by_one = torch.Generator().manual_seed(1)
        expected = [child_sample(sampler, params, one_by_one) for _ in range(4)]
        drawn = child_samples(sampler, params, 4, torch.Generator().manual_seed(1))
        assert len(drawn) == 4 and child_samples(sampler, params, 0) == []
        for got, want in zip(drawn, expected):
            for group, w in want.items():
                assert torch.equal(got[group].active, w.active) and torch.equal(got[group].weights, w.weights)
                assert got[group].active_list() == w.active.tolist()  # the host copy the supernet reads

    def test_deterministic_under_seed(self, sampler, groups):
        def draw():
            torch.manual_seed(123)
            params = sampler.init_params(groups, torch.Generator().manual_seed(0))
            sampler.set_epoch(0, 10)
            return {k: w.weights.detach() for k, w in sampler.sample(params, phase="weights").items()}

        a, b = draw(), draw()
        for k in a:
            assert torch.equal(a[k], b[k])

    def test_declares_whether_it_learns(self, sampler):
        assert isinstance(sampler.learnable, bool), "Sampler.learnable is True or False"

    def test_nothing_to_learn_means_no_gradient_path(self, sampler, groups):
        if sampler.learnable:
            pytest.skip("learnable sampler: test_gradient_reaches_params checks its gradients")
        params = {k: v.clone().requires_grad_(True) for k, v in sampler.init_params(groups, torch.Generator().manual_seed(0)).items()}
        sampler.set_epoch(0, 10)
        sample = sampler.sample(params, phase="arch")
        assert all(not w.weights.requires_grad for w in sample.values()), \
            "learnable = False but the samples depend differentiably on the parameters"
        assert sampler.regularizer(params) is None

    def test_gradient_reaches_params(self, sampler, groups):
        if not sampler.learnable:
            pytest.skip("sampler declares learnable = False (nothing to learn)")
        params = {k: v.clone().requires_grad_(True) for k, v in sampler.init_params(groups, torch.Generator().manual_seed(0)).items()}
        sampler.set_epoch(0, 10)
        sample = sampler.sample(params, phase="arch")
        gen = torch.Generator().manual_seed(3)
        loss = sum((sample[k].weights * torch.randn(p.shape, generator=gen)).sum() for k, p in params.items())
        regularizer = sampler.regularizer(params)
        if regularizer is not None:
            loss = loss + regularizer
        loss.backward()
        for k, p in params.items():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, k

    def test_state_dict_round_trip(self, sampler, groups):
        state = sampler.state_dict()
        json.dumps(state, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
        sampler.load_state_dict(state)
        assert isinstance(sampler.status(), dict)


def _check_active_and_mask(w: EdgeWeights, shape: tuple[int, ...]) -> None:
    if w.active is not None:
        assert tuple(w.active.shape) == (shape[0],) and w.active.dtype == torch.long
        assert int(w.active.min()) >= 0 and int(w.active.max()) < shape[1]
    if w.mask is not None:
        assert tuple(w.mask.shape) == tuple(shape) and w.mask.any(-1).all(), "every edge keeps at least one op"


class ObjectiveContract:
    """Needs ``objective`` and ``loss_context`` fixtures."""

    def test_returns_finite_scalar(self, objective, loss_context):
        value = objective(loss_context)
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and torch.isfinite(value)

    def test_declares_phases(self, objective):
        assert objective.phases and set(objective.phases) <= {"weights", "arch", "single"}

    def test_repeatable_on_one_context(self, objective, loss_context):
        torch.testing.assert_close(objective(loss_context).detach(), objective(loss_context).detach())

    def test_gradients_are_finite(self, objective, loss_context):
        leaves = [t for t in (*loss_context.params.values(), loss_context.logits)
                  if isinstance(t, torch.Tensor) and t.requires_grad]
        value = objective(loss_context)
        if not value.requires_grad:
            pytest.skip("the term is constant in this context (e.g. no cost): nothing to differentiate")
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        assert all(g is None or torch.isfinite(g).all() for g in grads)
        assert any(g is not None for g in grads), "the term depends on neither the architecture nor the logits"


class ProposerContract:
    """Needs ``proposer`` (a fresh, not yet set-up instance) and ``space`` fixtures.

    The black-box protocol: after ``setup(space, seed)`` every ``ask()`` is a valid genotype of
    the space, several asks may be outstanding before their ``tell``, and the same seed and the
    same told values give the same proposals.

    .. versionadded:: 0.1 (issue 18)
    """

    rounds = 12

    def _run(self, proposer, space, seed: int) -> tuple[list[str], bool]:
        """The asked texts, and whether the proposer ended them with ``SpaceExhausted`` (a space
        smaller than the rounds; the contract failed a correct proposer there)."""
        from automl_nas.api import SpaceExhausted

        proposer.setup(space, seed)
        texts: list[str] = []
        for i in range(self.rounds // 2):
            asked = []
            for _ in range(2):  # two outstanding, as with parallel evaluations
                try:
                    asked.append(proposer.ask())
                except SpaceExhausted:
                    break
            for j, genotype in enumerate(asked):
                assert isinstance(genotype, Genotype) and genotype.space == space.name
                assert space.parse(genotype.text) == genotype, f"{genotype.text!r} does not parse in its space"
                proposer.tell(genotype, float((7 * i + 3 * j) % 5))
                texts.append(genotype.text)
            if len(asked) < 2:
                return texts, True
        return texts, False

    def test_asks_valid_genotypes_and_takes_scores(self, proposer, space):
        import copy

        texts, exhausted = self._run(copy.deepcopy(proposer), space, 0)
        assert len(texts) == self.rounds or (exhausted and texts), (len(texts), exhausted)

    def test_same_seed_same_proposals(self, proposer, space):
        import copy

        assert self._run(copy.deepcopy(proposer), space, 5) == self._run(copy.deepcopy(proposer), space, 5)


class EvaluatorContract:
    """Needs ``evaluator``, ``genotype`` and ``eval_context`` fixtures.

    Wall-clock metrics cannot repeat exactly: metrics named ``*_time_s`` and those an
    evaluator lists in ``volatile_metrics`` are left out of the determinism check.
    """

    def test_declared_metrics_present(self, evaluator, genotype, eval_context):
        assert evaluator.metrics, "an evaluator declares the metric keys it returns"
        assert isinstance(evaluator.higher_is_better, bool)
        metrics = evaluator.evaluate(genotype, eval_context)
        assert set(evaluator.metrics) <= set(metrics)
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values())
        for key in evaluator.metrics:
            assert math.isfinite(metrics[key]), f"metric {key!r} is {metrics[key]!r}"

    def test_deterministic(self, evaluator, genotype, eval_context):
        volatile = set(getattr(evaluator, "volatile_metrics", ()))

        def steady(metrics: dict) -> dict:
            return {k: v for k, v in metrics.items() if k not in volatile and not k.endswith("_time_s")}

        torch.manual_seed(0)
        a = evaluator.evaluate(genotype, eval_context)
        torch.manual_seed(0)
        b = evaluator.evaluate(genotype, eval_context)
        assert set(a) == set(b) and steady(a) == steady(b)


class EvaluatorDeviceContract:
    """Needs ``evaluator``, ``genotype``, ``eval_context`` and ``device`` fixtures (issue 15).

    The genotype is scored with the context's device set to ``device``, then to ``"cpu"``:
    the same metric keys, each declared metric finite, and the same values to ``rel=1e-3``
    (``abs=1e-6``), wall-clock and ``volatile_metrics`` left out. Device and CPU kernels differ
    by rounding only when the evaluator draws its randomness on the CPU (seeded initial weights,
    batch order, augmentation) and computes in true fp32 (TF32 off); randomness drawn on the
    device (dropout) differs by design, so give such components options without it here. Give a
    context without a run directory: an evaluator that checkpoints would resume the first score.
    """

    def test_scores_on_the_device_as_on_the_cpu(self, evaluator, genotype, eval_context, device):
        volatile = set(getattr(evaluator, "volatile_metrics", ()))
        scores = {}
        for where in (device, "cpu"):
            torch.manual_seed(0)
            scores[where] = evaluator.evaluate(genotype, attrs.evolve(eval_context, device=where))
        on_device, on_cpu = scores[device], scores["cpu"]
        assert set(on_device) == set(on_cpu)
        for key in evaluator.metrics:
            assert math.isfinite(on_device[key]), f"metric {key!r} on {device} is {on_device[key]!r}"
        steady = sorted(k for k in on_cpu if k not in volatile and not k.endswith("_time_s"))
        assert {k: on_device[k] for k in steady} == pytest.approx({k: on_cpu[k] for k in steady}, rel=1e-3, abs=1e-6)


class DatasetContract:
    """Needs a ``dataset`` fixture (a provider that loads offline: generated data, a tiny file).

    Checks the record the engine relies on: an :class:`ImageSet` (uint8 images, labels, stats)
    or a :class:`GraphSet` (features, edges and labels of one graph, disjoint node splits).
    """

    def test_loads_a_data_record(self, dataset):
        data = dataset.load()
        assert isinstance(data, (ImageSet, GraphSet)), f"load() returned {type(data).__name__}"
        assert data.name and isinstance(data.source, str) and data.source, "name and source are recorded with runs"
        assert data.num_classes >= 2

    def test_record_is_consistent(self, dataset):
        data = dataset.load()
        if isinstance(data, GraphSet):
            n = data.x.shape[0]
            assert data.x.dim() == 2 and data.x.is_floating_point() and torch.isfinite(data.x).all()
            assert data.edge_index.shape[0] == 2 and data.edge_index.dtype == torch.long
            assert data.edge_index.numel() == 0 or (0 <= int(data.edge_index.min()) and int(data.edge_index.max()) < n)
            assert data.y.shape == (n,) and int(data.y.min()) >= 0 and int(data.y.max()) < data.num_classes
            splits = [torch.as_tensor(s) for s in (data.train_idx, data.valid_idx, data.test_idx)]
            ids = torch.cat(splits)
            assert len(splits[0]) and len(splits[1]), "training and validation nodes are needed to search"
            assert len(ids.unique()) == len(ids) and int(ids.min()) >= 0 and int(ids.max()) < n, "node splits overlap or leave the graph"
        else:
            assert data.train_x.dtype == torch.uint8 and data.train_x.dim() == 4
            assert len(data.train_y) == len(data.train_x) and int(data.train_y.max()) < data.num_classes
            assert len(data.mean) == len(data.std) and all(s > 0 for s in data.std)

    def test_loads_the_same_data_twice(self, dataset):
        a, b = dataset.load(), dataset.load()
        fields = ("x", "edge_index", "y", "train_idx", "valid_idx", "test_idx") if isinstance(a, GraphSet) else ("train_x", "train_y", "test_x", "test_y")
        for name in fields:
            assert torch.equal(torch.as_tensor(getattr(a, name)), torch.as_tensor(getattr(b, name))), name


__all__ = ["DatasetContract", "EvaluatorContract", "EvaluatorDeviceContract", "ObjectiveContract", "ProposerContract",
           "SamplerContract", "SearchSpaceContract", "LossContext", "EvalContext"]
