"""The contract suites over EVERY registered space, sampler, objective and evaluator (style G14).

Components are found through the real plugin manager and registry at collection time, so
a plugin is tested as soon as it registers. Components are built with their default options
unless the tables below give tiny ones (small spaces keep the suite fast). A component that
cannot be built or run with its defaults and has no entry fails with a message that says to
add one here; there is no skipping.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch

from automl_nas.api import EvalContext, EdgeWeights, GraphSet, GroupSpec, ImageSet, LossContext
from automl_nas.testing.contracts import (
    TINY,
    DatasetContract,
    EvaluatorContract,
    EvaluatorDeviceContract,
    ObjectiveContract,
    ProposerContract,
    SamplerContract,
    SearchSpaceContract,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# ---- per-component options (tiny where the defaults are big or need files) -------------------

#: search space -> options
SPACES: dict[str, dict[str, Any]] = {
    "nb201": {"channels": 4, "cells_per_stage": 1},
    "darts": {"channels": 4, "layers": 3, "eval_channels": 4, "eval_layers": 3},
    "gnn": {"hidden": 8},
    "macro": {"channels": 4, "stages": 2, "slots": 2},
}
#: sampler -> options
SAMPLERS: dict[str, dict[str, Any]] = {}
#: objective -> {"options": ..., "sampler": the sampler whose sample fills the loss context}
OBJECTIVES: dict[str, dict[str, Any]] = {
    "snas_resource": {"options": {}, "sampler": "snas"},  # policy_gradient needs the SNAS density
}
#: evaluator -> {"options": ..., "space": space whose genotype it scores, "genotype": text (else derived)}
EVALUATORS: dict[str, dict[str, Any]] = {
    "nb201-table": {"options": {"path": str(SHARED / "benchmarks" / "nb201-test-accuracy.csv")}, "genotype": NB201_CELL},
    "nats-bench": {"options": {"path": "<tiny nats file>"}, "genotype": NB201_CELL},
    "analog-nasbench": {"genotype": NB201_CELL},
    "naswot": {"options": {"batch_size": 8}},
    "snip": {"options": {"batch_size": 8}},
    "toy-count": {"space": "toy"},
    "nas-bench-graph": {"space": "gnn", "options": {"dataset": "cora"}},
    # two full-batch steps on a tiny generated graph ("data": "graph" hands it a GraphSet instead of images)
    "gnn-train": {"space": "gnn", "options": {"epochs": 2}, "data": "graph"},
    # one epoch of the NB201 schedule on 16 images, on a 4-channel one-cell-per-stage network
    "retrain": {"options": {"epochs": 1, "batch_size": 8, "train_limit": 16, "eval_batch_size": 16,
                            "network": {"channels": 4, "cells_per_stage": 1}}},
}
#: proposer -> {"options": ..., "space": the space it searches (else nb201)}
PROPOSERS: dict[str, dict[str, Any]] = {
    "morphism": {"space": "macro"},  # the nb201 cell space has morphisms too; the macro one all three kinds
}
DEFAULT_SPACE = "nb201"
TABLES = {"search_space": "SPACES", "sampler": "SAMPLERS", "objective": "OBJECTIVES", "evaluator": "EVALUATORS",
          "proposer": "PROPOSERS"}


@functools.cache
def _registry():
    from automl_nas.manager import build_registry, get_plugin_manager

    return build_registry(get_plugin_manager())


def _names(kind: str) -> list[str]:
    return _registry().names(kind)


def build(kind: str, name: str, options: dict[str, Any] | None, registry=None) -> Any:
    """Build a registered component; without an entry, a failure tells the author to add one."""
    registry = registry or _registry()
    component = registry.get(kind, name)
    try:
        config = component.config(**(options or {})) if component.config is not None else None
        return registry.create(kind, name, config)
    except Exception as exc:  # noqa: BLE001 - reported with the fix
        if options is not None:
            raise
        _missing_entry(kind, component, exc)


def _missing_entry(kind: str, component, exc: BaseException) -> None:
    pytest.fail(
        f"{kind} {component.name!r} (plugin {component.plugin!r}, {component.dist}) does not work with its default "
        f"options ({type(exc).__name__}: {exc}); add an entry with tiny options for it to {TABLES[kind]} in "
        f"tests/test_conformance.py so the conformance suite can build it", pytrace=False)


def _space(name: str = DEFAULT_SPACE):
    return build("search_space", name, SPACES.get(name))


# ---- spaces ------------------------------------------------------------------------------------


class TestEverySearchSpace(SearchSpaceContract):
    @pytest.fixture(params=_names("search_space"))
    def space(self, request):
        return _space(request.param)


# ---- samplers ----------------------------------------------------------------------------------


class TestEverySampler(SamplerContract):
    @pytest.fixture(params=_names("sampler"))
    def sampler(self, request):
        return build("sampler", request.param, SAMPLERS.get(request.param))

    @pytest.fixture
    def groups(self):
        # Two groups of DARTS shape, as the DARTS space asks for: samplers must not assume one group.
        edges = tuple(str(i) for i in range(14))
        ops = tuple(f"op{k}" for k in range(8))
        return [GroupSpec(name="normal", ops=ops, edges=edges, cells=2), GroupSpec(name="reduce", ops=ops, edges=edges)]


# ---- objectives --------------------------------------------------------------------------------


def _loss_context(sampler_name: str) -> LossContext:
    """A real context: the tiny NB201 supernet's logits for a sample of ``sampler_name``."""
    space = _space()
    sampler = build("sampler", sampler_name, SAMPLERS.get(sampler_name))
    params = {k: v.requires_grad_(True) for k, v in sampler.init_params(space.groups(), torch.Generator().manual_seed(0)).items()}
    sampler.set_epoch(0, 10)
    sample = sampler.sample(params, phase="arch")
    x = torch.randn(4, TINY.channels, TINY.height, TINY.width, generator=torch.Generator().manual_seed(1))
    logits = space.build_supernet(TINY)(x, sample)
    return LossContext(phase="arch", logits=logits, targets=torch.arange(4) % TINY.num_classes, params=params,
                       sample=sample, sampler=sampler, costs=space.op_costs(TINY))


class TestEveryObjective(ObjectiveContract):
    @pytest.fixture(params=_names("objective"))
    def entry(self, request):
        return request.param, OBJECTIVES.get(request.param)

    @pytest.fixture
    def objective(self, entry):
        name, spec = entry
        return build("objective", name, None if spec is None else spec.get("options", {}))

    @pytest.fixture
    def loss_context(self, entry, objective):
        name, spec = entry
        ctx = _loss_context((spec or {}).get("sampler", "darts"))
        if spec is None:
            try:
                objective(ctx)
            except Exception as exc:  # noqa: BLE001
                _missing_entry("objective", _registry().get("objective", name), exc)
        return ctx


# ---- evaluators --------------------------------------------------------------------------------


def _tiny_images(channels: int, side: int, classes: int = 3, n: int = 16) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, side, side), generator=gen, dtype=torch.uint8)
    y = torch.arange(n) % classes
    return ImageSet(name="tiny", train_x=x, train_y=y, test_x=x[:8], test_y=y[:8], mean=(0.5,) * channels,
                    std=(0.25,) * channels, num_classes=classes, crop_padding=1, source="generated")


def _tiny_graph(features: int, classes: int = 3, n: int = 24) -> GraphSet:
    gen = torch.Generator().manual_seed(0)
    ring = torch.arange(n)
    edge_index = torch.stack([torch.cat([ring, (ring + 1) % n]), torch.cat([(ring + 1) % n, ring])])
    return GraphSet(name="tiny-graph", x=torch.randn(n, features, generator=gen), edge_index=edge_index,
                    y=torch.arange(n) % classes, train_idx=ring[:12], valid_idx=ring[12:18], test_idx=ring[18:],
                    num_classes=classes, source="generated")


@pytest.fixture(scope="session")
def tiny_nats_file(tmp_path_factory) -> str:
    """A NATS-Bench topology file with one architecture, in the API's own format."""
    from nats_bench.api_utils import ArchResults, ResultsCount, pickle_save

    def results(hp: str) -> dict:
        arch = ArchResults(0, NB201_CELL)
        for dataset, sets in (("cifar10", ("ori-test",)), ("cifar100", ("x-valid", "x-test", "ori-test"))):
            for seed, acc in ((777, 91.0), (888, 92.0)):
                rc = ResultsCount(dataset, None, {0: 50.0}, {0: 1.0}, 0.1, 10.0, {"arch_str": NB201_CELL}, seed, 1, None)
                accs = {f"{s}@0": acc for s in sets}
                rc.update_eval(accs, {k: 0.5 for k in accs}, {k: 1.0 for k in accs})
                arch.update(dataset, seed, rc)
        return arch.state_dict()

    base = tmp_path_factory.mktemp("nats") / "NATS-tss-tiny.pickle"
    pickle_save({"meta_archs": [NB201_CELL], "arch2infos": {0: {hp: results(hp) for hp in ("12", "200")}},
                 "evaluated_indexes": [0]}, str(base))
    return str(base) + ".pbz2"


class _EveryEvaluator:
    """The fixtures that build an evaluator (``entry``: its name and EVALUATORS entry, set by each
    subclass), its space, a genotype and a CPU context."""

    #: space name -> options overriding SPACES for this class's evaluations
    space_options: dict[str, dict[str, Any]] = {}

    @staticmethod
    def _entry(name: str, request) -> tuple[str, dict[str, Any] | None]:
        spec = EVALUATORS.get(name)
        if spec is not None and spec.get("options", {}).get("path") == "<tiny nats file>":
            spec = {**spec, "options": {**spec["options"], "path": request.getfixturevalue("tiny_nats_file")}}
        return name, spec

    @pytest.fixture
    def space(self, entry):
        name = (entry[1] or {}).get("space", DEFAULT_SPACE)
        return build("search_space", name, self.space_options.get(name, SPACES.get(name)))

    @pytest.fixture
    def evaluator(self, entry):
        name, spec = entry
        return build("evaluator", name, None if spec is None else spec.get("options", {}))

    @pytest.fixture
    def genotype(self, entry, space):
        text = (entry[1] or {}).get("genotype")
        if text is not None:
            return space.parse(text)
        gen = torch.Generator().manual_seed(0)
        return space.derive({g.name: torch.randn(g.shape, generator=gen) for g in space.groups()})

    @pytest.fixture
    def eval_context(self, entry, space, evaluator, genotype):
        data = _tiny_graph(TINY.channels) if (entry[1] or {}).get("data") == "graph" else _tiny_images(TINY.channels, TINY.height)
        ctx = EvalContext(space=space, data=data, device="cpu", seed=0, log=lambda msg: None)
        if entry[1] is None:
            try:
                evaluator.evaluate(genotype, ctx)
            except Exception as exc:  # noqa: BLE001
                _missing_entry("evaluator", _registry().get("evaluator", entry[0]), exc)
        return ctx


class TestEveryEvaluator(_EveryEvaluator, EvaluatorContract):
    @pytest.fixture(params=_names("evaluator"))
    def entry(self, request):
        return self._entry(request.param, request)


#: evaluators that only look scores up: no tensor work, so nothing to check on a device (and a
#: device machine need not hold their packages); TestDeviceFreeEvaluatorsIgnoreTheDevice
#: proves each on the CPU
DEVICE_FREE = ("analog-nasbench", "nas-bench-graph", "nats-bench", "nb201-table", "toy-count")


@pytest.mark.cuda
class TestEveryEvaluatorOnTheDevice(_EveryEvaluator, EvaluatorDeviceContract):
    """Issue 15: every registered evaluator that computes scores on the device as on the CPU."""

    # dropout draws from the device's generator: with it, device and CPU scores differ by design
    space_options = {"gnn": {**SPACES["gnn"], "dropout": 0.0}}

    @pytest.fixture(params=[n for n in _names("evaluator") if n not in DEVICE_FREE])
    def entry(self, request):
        return self._entry(request.param, request)

    @pytest.fixture
    def device(self, cuda_device):
        return cuda_device


class TestDeviceFreeEvaluatorsIgnoreTheDevice(_EveryEvaluator, EvaluatorDeviceContract):
    """A DEVICE_FREE evaluator scores the same with a ``meta`` device in its context: one tensor
    made there would have no values to read, so a lookup that computes fails here."""

    @pytest.fixture(params=DEVICE_FREE)
    def entry(self, request):
        return self._entry(request.param, request)

    @pytest.fixture
    def device(self):
        return "meta"


# ---- data sets ---------------------------------------------------------------------------------

#: data sets that load offline with these options; those that need files are checked by their plugin's tests
OFFLINE_DATASETS: dict[str, dict[str, Any]] = {"digits": {}, "sbm": {"nodes": 80}}


class TestOfflineDatasets(DatasetContract):
    @pytest.fixture(params=sorted(OFFLINE_DATASETS))
    def dataset(self, request):
        return build("dataset", request.param, OFFLINE_DATASETS[request.param])


def test_suites_catch_overlapping_node_splits():
    import attrs

    class Overlapping:
        def load(self):
            return attrs.evolve(_tiny_graph(4), valid_idx=torch.arange(10, 14))  # train nodes are 0..11

    with pytest.raises(AssertionError, match="overlap"):
        DatasetContract().test_record_is_consistent(Overlapping())


# ---- the tables themselves ---------------------------------------------------------------------


class TestEveryProposer(ProposerContract):
    @pytest.fixture(params=_names("proposer"))
    def entry(self, request):
        return request.param, PROPOSERS.get(request.param)

    @pytest.fixture
    def space(self, entry):
        return _space((entry[1] or {}).get("space", DEFAULT_SPACE))

    @pytest.fixture
    def proposer(self, entry):
        name, spec = entry
        return build("proposer", name, None if spec is None else spec.get("options", {}))


def test_every_kind_has_registered_components():
    for kind in TABLES:
        assert _names(kind), f"no {kind} registered: is the environment installed (bash scripts/setup.sh)?"


@pytest.mark.parametrize("kind,table", [("search_space", SPACES), ("sampler", SAMPLERS),
                                        ("objective", OBJECTIVES), ("evaluator", EVALUATORS), ("proposer", PROPOSERS)])
def test_no_stale_entries(kind, table):
    """An entry for a component that no longer registers would hide a renamed component."""
    assert set(table) <= set(_names(kind)), f"{TABLES[kind]} names unregistered {kind}s: {sorted(set(table) - set(_names(kind)))}"


def test_a_component_with_required_options_and_no_entry_fails_with_the_fix():
    import attrs

    from automl_nas import Component, hookimpl
    from automl_nas.manager import build_registry, get_plugin_manager

    @attrs.frozen(kw_only=True)
    class NeedsPath:
        path: str  # required: no default

    class NewPlugin:
        @hookimpl
        def automl_register_evaluators(self):
            return [Component(kind="evaluator", name="brand-new", impl="automl_nas_toy.space:CountConvs", config=NeedsPath)]

    pm = get_plugin_manager()
    pm.register(NewPlugin(), name="brand-new-plugin")
    registry = build_registry(pm)
    with pytest.raises(pytest.fail.Exception, match=r"evaluator 'brand-new' .*add an entry .* to EVALUATORS in tests/test_conformance.py"):
        build("evaluator", "brand-new", EVALUATORS.get("brand-new"), registry)
    # With an entry it builds.
    assert build("evaluator", "brand-new", {"path": "x"}, registry).metrics == ("convs",)


# ---- the suites catch broken components --------------------------------------------------------


def _toy():
    from automl_nas_toy.hooks import ToySpaceConfig
    from automl_nas_toy.space import ToySpace

    return ToySpace(ToySpaceConfig())


def test_suites_catch_samples_off_the_simplex_unless_declared():
    from automl_nas_toy.space import SoftmaxSampler

    class Unnormalised(SoftmaxSampler):
        def sample(self, params, *, phase):
            return {g: EdgeWeights(weights=torch.exp(p)) for g, p in params.items()}

    groups = [GroupSpec(name="cell", ops=("a", "b", "c"), edges=("0", "1"))]
    with pytest.raises(AssertionError):
        SamplerContract().test_samples_on_simplex(Unnormalised(), groups)
    Unnormalised.samples_on_simplex = False  # e.g. a sampler of unnormalised gates
    SamplerContract().test_samples_on_simplex(Unnormalised(), groups)


def test_suites_catch_a_nan_metric_and_a_derive_that_ignores_parameters():
    from automl_nas_toy.space import CountConvs

    class NanScore(CountConvs):
        def evaluate(self, genotype, ctx):
            return {"convs": float("nan")}

    with pytest.raises(AssertionError, match="convs"):
        EvaluatorContract().test_declared_metrics_present(NanScore(), _toy().decode(5), EvalContext(space=_toy()))

    space = _toy()
    space.derive = lambda params: space.decode(0)
    with pytest.raises(AssertionError):
        SearchSpaceContract().test_derive_follows_the_parameters(space)


def test_suites_catch_op_modules_that_miss_a_position():
    from automl_nas.api.space import OpPosition

    space = _toy()
    group = space.groups()[0]

    def op_modules(inputs):
        for e in range(len(group.edges)):
            for op in group.ops[:-1]:  # the last op is forgotten
                yield OpPosition(group="cell", cell=0, edge=e, op=op, module=torch.nn.Identity(), input_shape=(4, 8, 8))

    space.op_modules = op_modules
    with pytest.raises(AssertionError):
        SearchSpaceContract().test_op_modules_cover_every_position(space, TINY)


# ---- benchmark tables (automl bench) -----------------------------------------------------------

from automl_nas.testing.bench_contract import BenchmarkTableContract  # noqa: E402


class TestEveryBenchmarkTable(BenchmarkTableContract):
    @pytest.fixture(params=_names("benchmark"))
    def table(self, request):
        return build("benchmark", request.param, None)


def test_the_device_suite_catches_a_score_that_depends_on_the_device():
    from automl_nas_toy.space import CountConvs

    class HalfOnDevices(CountConvs):
        """A device-side reduction that drops half the terms: right on the CPU only."""

        def evaluate(self, genotype, ctx):
            metrics = super().evaluate(genotype, ctx)
            return {k: v / (1 if ctx.device == "cpu" else 2) for k, v in metrics.items()}

    genotype, ctx = _toy().decode(42), EvalContext(space=_toy(), log=lambda msg: None)  # three convs
    EvaluatorDeviceContract().test_scores_on_the_device_as_on_the_cpu(CountConvs(), genotype, ctx, "meta")
    with pytest.raises(AssertionError):
        EvaluatorDeviceContract().test_scores_on_the_device_as_on_the_cpu(HalfOnDevices(), genotype, ctx, "meta")


class TestAProposerThatExhaustsItsSpace(ProposerContract):
    """A space smaller than the contract's rounds: the proposer ends them with SpaceExhausted, which
    is documented as no error (the contract failed a correct proposer here)."""

    @pytest.fixture
    def space(self):
        return build("search_space", "macro", {"channels": 4, "stages": 1, "max_width": 8, "max_layers": 1})

    @pytest.fixture
    def proposer(self):
        return build("proposer", "morphism", {})

    def test_the_space_is_smaller_than_the_rounds(self, proposer, space):
        texts, exhausted = self._run(proposer, space, 0)
        assert exhausted and texts == ["macro:c4", "macro:c8"]


def test_the_proposer_contract_still_fails_a_proposer_that_stops_without_saying_why():
    from automl_nas.api import Proposer

    class Stops(Proposer):
        name = "stops"

        def setup(self, space, seed):
            pass

        def ask(self):
            raise RuntimeError("out of ideas")

        def tell(self, genotype, value):
            pass

    with pytest.raises(RuntimeError, match="out of ideas"):
        ProposerContract().test_asks_valid_genotypes_and_takes_scores(Stops(), _space())
