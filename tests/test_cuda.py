"""CUDA correctness (issue 15): fused vs plain paths and one search step of every shipped recipe
on the device.

Every test here is marked ``cuda``: on a machine without a GPU the root ``conftest.py``
deselects them and the summary says they were NOT run. ``AUTOML_NAS_CUDA_TESTS=cpu`` runs
them on the CPU as a dry run (``benchmarks/gpu_check.sh --device cpu``).

Tolerances: fp32 as the CPU equality tests (rtol 1e-4, atol 2e-5), with TF32 convolutions and
matmuls switched off by the ``cuda_device`` fixture (cuDNN's default TF32 rounds to 10 mantissa bits).
bf16 autocast: the fused and plain losses within 2 % of each other and of fp32, and the
architecture gradients' cosine similarity with fp32's >= 0.95 (DrNAS on the tiny CPU dry run:
0.975) (bf16 keeps 8 mantissa bits; the two paths
round at different places, so elementwise tolerances would be arbitrary).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from automl_nas.api.sampler import updates_arch
from automl_nas.testing import build_search, colour_blobs, engine_steps_state

pytestmark = pytest.mark.cuda

REPO = Path(__file__).resolve().parents[1]
NB201_TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "space.channels=8", "space.cells_per_stage=1",
              "run.threads=1"]
DARTS_TINY = ['data={name="digits", size=8, batch_size=8, limit=64}', "space.channels=4", "space.layers=3",
              "run.threads=1"]
PROGRESSIVE = ("search.sampler.stage_epochs=[2, 2]", "search.sampler.warmup_epochs=0",
               "search.arch_optimizer={name='sgd', lr=3e-4}")
CASES = [
    ("darts-nb201.toml", NB201_TINY, (), 0),
    ("gdas.toml", NB201_TINY, (), 0),
    ("snas.toml", NB201_TINY, (), 0),
    ("drnas.toml", NB201_TINY, (), 0),
    ("drnas-progressive.toml", NB201_TINY, PROGRESSIVE, 2),
    ("darts.toml", DARTS_TINY, ("search.second_order=false",), 0),
    ("darts.toml", DARTS_TINY, (), 0),
    ("snas-darts.toml", DARTS_TINY, (), 0),
    ("gdas-darts.toml", DARTS_TINY, (), 0),
    ("drnas-darts.toml", DARTS_TINY, ("space.channels=12", *PROGRESSIVE), 2),
]
IDS = ["nb201-darts", "nb201-gdas", "nb201-snas", "nb201-drnas", "nb201-drnas-progressive-stage2",
       "darts-1st", "darts-2nd", "darts-snas", "darts-gdas", "darts-drnas-progressive-stage2"]


def _build(tmp_path, device, recipe, tiny, extra, epoch, *, fast, name=None):
    overrides = [*tiny, f"run.device={device!r}", f"run.fast_paths={str(fast).lower()}", *extra]
    return build_search(REPO / "recipes" / recipe, root=tmp_path, overrides=overrides, epoch=epoch, device=device,
                        name=name or f"{recipe}-{fast}-{len(extra)}")


@pytest.mark.parametrize("recipe, tiny, extra, epoch", CASES, ids=IDS)
def test_fused_equals_plain_fp32_on_device(tmp_path, cuda_device, recipe, tiny, extra, epoch):
    plain = engine_steps_state(_build(tmp_path, cuda_device, recipe, tiny, extra, epoch, fast=False))
    fast_search = _build(tmp_path, cuda_device, recipe, tiny, extra, epoch, fast=True)
    assert fast_search.run.supernet.fast_paths
    assert next(fast_search.run.supernet.parameters()).device.type == torch.device(cuda_device).type
    fast = engine_steps_state(fast_search)
    assert plain.keys() == fast.keys()
    for key, value in plain.items():
        torch.testing.assert_close(fast[key], value, rtol=1e-4, atol=2e-5, msg=key)


@pytest.mark.parametrize("recipe, tiny, extra, epoch", [CASES[1], CASES[4], CASES[5]],
                         ids=["nb201-gdas", "nb201-drnas-progressive-stage2", "darts-1st"])
def test_channels_last_is_a_layout_only_on_device(tmp_path, cuda_device, recipe, tiny, extra, epoch):
    """``run.channels_last`` (its GPU default awaits measurement) changes the memory layout, not the
    maths: the fused paths' steps in either layout agree as the fp32 comparisons above."""
    states = [engine_steps_state(_build(tmp_path, cuda_device, recipe, tiny, (*extra, f"run.channels_last={flag}"),
                                        epoch, fast=True, name=f"layout-{flag}")) for flag in ("false", "true")]
    assert states[0].keys() == states[1].keys()
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=1e-4, atol=2e-5, msg=key)


def _loss_and_arch_grad(search):
    torch.manual_seed(3)
    (x, y) = next(search.train_loader.cycle(0))
    loss, _, _ = search.loss("arch", x, y)
    params = list(search.run.params.values())
    grads = torch.autograd.grad(loss, params)
    return float(loss.detach()), torch.cat([g.flatten() for g in grads]).float()


@pytest.mark.parametrize("recipe, tiny, extra, epoch", [CASES[0], CASES[3], CASES[5]],
                         ids=["nb201-darts", "nb201-drnas", "darts-1st"])
def test_bf16_fused_and_plain_within_stated_tolerance(tmp_path, cuda_device, recipe, tiny, extra, epoch):
    got = {}
    for fast, bf16 in ((False, False), (False, True), (True, True)):
        search = _build(tmp_path, cuda_device, recipe, tiny, (*extra, f"run.bf16={str(bf16).lower()}"), epoch,
                        fast=fast, name=f"bf16-{fast}-{bf16}")
        got[fast, bf16] = _loss_and_arch_grad(search)
    (l32, g32), (lp, gp), (lf, gf) = got[False, False], got[False, True], got[True, True]
    for loss in (lp, lf):
        assert math.isfinite(loss) and abs(loss - l32) <= 0.02 * abs(l32), (loss, l32)
    for g in (gp, gf):
        assert torch.isfinite(g).all()
        assert float(torch.nn.functional.cosine_similarity(g, g32, dim=0)) >= 0.95
    assert abs(lf - lp) <= 0.02 * abs(lp)


SHIPPED = sorted(p.name for p in (REPO / "recipes").glob("*.toml")
                 if "[search]" in p.read_text() and "[blackbox]" not in p.read_text() and "[study" not in p.read_text())


def test_every_shipped_one_shot_recipe_is_covered():
    assert {"darts-nb201.toml", "gdas.toml", "snas.toml", "drnas.toml", "drnas-progressive.toml", "darts.toml",
            "gdas-darts.toml", "snas-darts.toml", "drnas-darts.toml", "gnn-darts.toml"} <= set(SHIPPED)


@pytest.mark.parametrize("recipe", SHIPPED)
def test_one_search_step_of_every_shipped_recipe(tmp_path, cuda_device, recipe):
    """The quick profile's supernet on the device: one iteration changes weights and (when the
    method learns them) the architecture parameters, and everything stays finite and on the device."""
    search = build_search(REPO / "recipes" / recipe, root=tmp_path, profile="quick", device=cuda_device,
                          overrides=[f"run.device={cuda_device!r}", "run.threads=1"])
    before = {k: v.detach().clone() for k, v in search.run.params.items()}
    state = engine_steps_state(search, iterations=1)
    for key, value in state.items():
        assert value.device.type == torch.device(cuda_device).type, key
        if value.is_floating_point():
            assert torch.isfinite(value).all(), key
    if search.sampler.learnable and updates_arch(search.sampler, 0):
        assert any(not torch.equal(before[k], search.run.params[k].detach()) for k in before)


def test_export_and_plain_network_on_device(cuda_device):
    from automl_nas import build_model

    net = build_model("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    net = net.to(cuda_device).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32, device=cuda_device))
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_the_loop_on_the_device_reads_every_step_in_order(tmp_path, cuda_device):
    """The search loop on the device: on CUDA each step's values are read one step late
    (``automl_nas/readback.py``); the hook still sees every step in order and the epoch records hold
    finite means of the steps it saw."""
    from automl_nas.engine.guards import Guard
    from automl_nas.readback import lag_for

    search = build_search(REPO / "recipes" / "darts-nb201.toml", root=tmp_path, device=cuda_device,
                          overrides=[*NB201_TINY, f"run.device={cuda_device!r}", "search.steps_per_epoch=3",
                                     "search.epochs=2", "search.valid_batches=1"])
    seen = []

    class Hooks:
        def call(self, name, **kw):
            if name == "automl_step_end":
                seen.append((kw["epoch"], kw["step"], kw["metrics"]["loss"]))

    search.run_epochs(Guard(search), Hooks())
    assert lag_for(cuda_device) == (1 if cuda_device.startswith("cuda") else 0)
    assert [(e, s) for e, s, _ in seen] == [(e, s) for e in range(2) for s in range(3)]
    records = search.run.run_dir.read_metrics()
    for epoch, record in enumerate(records):
        losses = [loss for e, _, loss in seen if e == epoch]
        assert record["train_loss"] == pytest.approx(sum(losses) / 3) and math.isfinite(record["train_loss"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_global_batch_norm_kernels_on_the_device_equal_aten_batch_norm(cuda_device, dtype):
    """The data-parallel batch norm (``run.sync_batch_norm``) on the device's kernels, with one
    process's reduction (the identity): output, gradients and running statistics as ATen's own
    training batch norm, channels-last, fp32 and bf16 input (ATen's mixed-precision BN)."""
    import contextlib

    from torch.nn import functional as F

    from automl_nas.nn.synced_batch_norm import GlobalBatchStatistics

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(8, 24, 6, 6, generator=g) * 3 + 2).to(cuda_device, dtype)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    up = torch.randn(8, 24, 6, 6, generator=g).to(cuda_device)
    weight, bias = (torch.randn(24, generator=g).to(cuda_device).requires_grad_() for _ in range(2))

    def run(mode):
        x.grad = weight.grad = bias.grad = None
        mean, var = torch.zeros(24, device=cuda_device), torch.ones(24, device=cuda_device)
        with mode:
            y = F.batch_norm(x, mean, var, weight, bias, True, 0.1, 1e-5)
        (y.float() * up).sum().backward()
        return {"y": y.float(), "grad_x": x.grad.float(), "grad_weight": weight.grad, "grad_bias": bias.grad,
                "running_mean": mean, "running_var": var}

    ours, aten = run(GlobalBatchStatistics(lambda t: t)), run(contextlib.nullcontext())
    tol = dict(rtol=1e-4, atol=2e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=5e-2)
    for key, value in aten.items():
        torch.testing.assert_close(ours[key], value, **tol, msg=key)


# ---- beyond the one-shot step: network morphism, black-box search, the latency objective -------


def test_a_warm_started_child_on_the_device_computes_its_trained_parent(tmp_path, cuda_device):
    """Network morphism (Auto-Keras) on the device: the parent is trained there, and the child its
    morphisms carry onto the device computes the trained parent's function, in both modes."""
    import json

    from automl_nas.api import EvalContext, InputSpec
    from automl_nas_eval_retrain.config import RetrainConfig
    from automl_nas_eval_retrain.evaluator import Retrain
    from automl_nas_eval_retrain.warm_start import find_parent, warm_network
    from automl_nas_space_macro.config import MacroConfig
    from automl_nas_space_macro.space import MacroSpace

    space = MacroSpace(MacroConfig(channels=4, stages=2, slots=1))
    parent, child = space.parse("macro:c4,p,c8"), space.parse("macro:c4,r,p,c16")  # deepen, then widen
    data = colour_blobs(n=128, test=32)
    ctx = EvalContext(space=space, data=data, device=cuda_device, seed=0, run_dir=tmp_path, log=lambda msg: None)
    Retrain(RetrainConfig(epochs=1, batch_size=16, eval_batch_size=32, threads=1, augment=False)).evaluate(parent, ctx)
    job = json.loads(next(tmp_path.glob("retrain/*/job.json")).read_text())
    folder, found, path = find_parent(tmp_path, {**job, "genotype": child.text}, space, child, 3)
    assert found == parent and len(path) == 2
    inputs = InputSpec(height=8, width=8, num_classes=4)
    trained = space.build_network(parent, inputs).to(cuda_device)
    trained.load_state_dict(torch.load(folder / "last.pt", map_location=cuda_device, weights_only=True)["model"])
    warm = warm_network(space, folder, parent, path, inputs, cuda_device)
    assert {p.device.type for p in warm.parameters()} == {torch.device(cuda_device).type}
    x = ((data.test_x.float() / 255 - 0.5) / 0.25).to(cuda_device)
    for training in (True, False):
        trained.train(training), warm.train(training)
        with torch.no_grad():
            torch.testing.assert_close(warm(x), trained(x), rtol=1e-4, atol=1e-5)


def test_a_black_box_morphism_search_trains_every_query_on_the_device(tmp_path, cuda_device):
    """The shipped morphism recipe end to end (proposer, retraining with warm start, records) with
    the run on the device: every query is trained there and the search finishes."""
    import json

    from click.testing import CliRunner

    from automl_nas.cli import main

    out = CliRunner().invoke(main, ["search", str(REPO / "recipes" / "morphism-macro.toml"), "-p", "quick",
                                    "--set", f"run.device={cuda_device!r}", "--run-dir", str(tmp_path / "search")])
    assert out.exit_code == 0, out.output[-3000:]
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["status"] == "finished" and summary["queries"] == 4
    trained_on = [line.rsplit("device ", 1)[1] for line in out.output.splitlines() if line.startswith("retrain: macro:")]
    assert trained_on == [cuda_device] * 4
    assert "retrain: warm start from" in out.output  # children started from their trained parents


def test_a_latency_table_profiled_on_the_device_drives_the_snas_objective(tmp_path, cuda_device):
    """``automl profile-ops --device`` times the ops on the device and records it; the SNAS resource
    objective reads that table in a search step on the device and moves the architecture."""
    from click.testing import CliRunner

    from automl_nas.cli import main
    from automl_nas.costs import read_latency_table
    from automl_nas.profiling import device_name

    table_file = tmp_path / "latency.json"
    out = CliRunner().invoke(main, ["profile-ops", "--recipe", str(REPO / "recipes" / "snas-darts.toml"), "--profile",
                                    "quick", "--device", cuda_device, "--batch", "2", "--repeats", "2", "--warmup", "1",
                                    "--threads", "1", "-q", "--out", str(table_file)])
    assert out.exit_code == 0, out.output[-3000:]
    table = read_latency_table(table_file)
    assert table.measured["device"] == cuda_device and table.measured["device_name"] == device_name(cuda_device)
    values = [v for g in table.groups.values() for cell in g.latency_ms for row in cell for v in row]
    assert values and all(math.isfinite(v) and v > 0 for v in values)
    after = {}
    for weight in (1.0, 0.0):
        objectives = ('search.objectives=[{name="cross_entropy"}, {name="snas_resource", costs="latency", '
                      f'latency_table="{table_file}", weight={weight}}}]')
        search = build_search(REPO / "recipes" / "snas-darts.toml", root=tmp_path, profile="quick", device=cuda_device,
                              overrides=[f"run.device={cuda_device!r}", "run.threads=1", objectives], name=f"w{weight}")
        engine_steps_state(search, iterations=1)
        after[weight] = {k: v.detach() for k, v in search.run.params.items()}
    for key, value in after[1.0].items():
        assert value.device.type == torch.device(cuda_device).type and torch.isfinite(value).all(), key
    # the same seeded step with and without the latency term: the table moved the architecture
    assert any(not torch.allclose(after[1.0][k], after[0.0][k]) for k in after[1.0])


def test_a_run_on_the_device_resumes_to_the_uninterrupted_run(tmp_path, cuda_device):
    """A deterministic device run stopped after an epoch and resumed ends as the run that was not
    stopped: its checkpoint's generator states go back to their CPU generators (loaded onto the
    device, resuming stopped with a type error), and ``run.deterministic`` keeps the GPU's
    kernels from drifting. GDAS: its hard samples make the generators' state matter."""
    import json

    from automl_nas import hookimpl
    from automl_nas.errors import PluginError
    from automl_nas.session import resume_run, run_recipe_file

    class PowerCut:
        @hookimpl
        def automl_epoch_end(self, run, epoch, metrics):
            if epoch == 1:
                raise RuntimeError("power cut")

    recipe = REPO / "recipes" / "gdas.toml"
    overrides = [*NB201_TINY, f"run.device={cuda_device!r}", "run.deterministic=true", "run.checkpoint_every=1",
                 "search.epochs=3", "search.steps_per_epoch=3", f"run.root={str(tmp_path)!r}",
                 'evaluator={name="synflow"}']  # scores the genotype on the device, no table needed
    full = run_recipe_file(recipe, quiet=True, run_dir=tmp_path / "full", overrides=overrides)
    with pytest.raises(PluginError, match="power cut"):
        run_recipe_file(recipe, quiet=True, run_dir=tmp_path / "cut", overrides=overrides,
                        extra_plugins=[(PowerCut(), "power-cut")])
    resumed = resume_run(tmp_path / "cut", quiet=True)
    assert resumed["status"] == "finished" and resumed["genotype"] == full["genotype"]
    # Bit for bit on the CPU; on a GPU an op torch has no deterministic kernel for (it warns)
    # may still round differently, hence a tolerance far below any effect of a lost RNG state.
    assert resumed["last_epoch"]["train_loss"] == pytest.approx(full["last_epoch"]["train_loss"], rel=1e-5)
    history = [[json.loads(line)["params"] for line in (tmp_path / d / "arch_history.jsonl").read_text().splitlines()]
               for d in ("full", "cut")]
    assert len(history[0]) == len(history[1]) == 3
    for resumed_epoch, full_epoch in zip(history[1], history[0]):
        assert resumed_epoch.keys() == full_epoch.keys()
        for group, values in full_epoch.items():
            torch.testing.assert_close(torch.tensor(resumed_epoch[group]), torch.tensor(values), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("recipe", SHIPPED)
def test_one_epoch_of_every_shipped_recipe_ends_on_the_device(tmp_path, cuda_device, recipe):
    """Past the step: an epoch's end (validation, a sampled child's accuracy, the derived genotype,
    the checkpoint) and the run's final evaluation, on the device. The quick profile, one short
    epoch (a progressive DrNAS recipe: one per stage, its widening between them on the device, as
    its schedule must fit the search); images are scored by synflow (on the device, no benchmark
    table needed)."""
    from automl_nas.session import run_recipe_file

    staged = "stage_epochs" in (REPO / "recipes" / recipe).read_text()
    epochs = 2 if staged else 1
    overrides = [f"run.device={cuda_device!r}", "run.threads=1", f"search.epochs={epochs}", "search.steps_per_epoch=2",
                 "search.valid_batches=1", f"run.root={str(tmp_path)!r}"]
    if staged:
        overrides += ["search.sampler.stage_epochs=[1, 1]", "search.sampler.warmup_epochs=0"]
    if recipe != "gnn-darts.toml":  # a graph run keeps its own evaluator, gnn-train (it trains on the device)
        overrides.append('evaluator={name="synflow"}')
    result = run_recipe_file(REPO / "recipes" / recipe, profile="quick", quiet=True, run_dir=tmp_path / "run",
                             overrides=overrides)
    assert result["status"] == "finished" and result["genotype"], result
    assert result["epochs"] == epochs and len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == epochs
    assert all(math.isfinite(v) for v in result["metrics"].values()) and result["metrics"], result["metrics"]


def _registered(kind: str) -> list[str]:
    from automl_nas.manager import build_registry, get_plugin_manager

    return build_registry(get_plugin_manager()).names(kind)


@pytest.mark.parametrize("sampler", _registered("sampler"))
def test_one_epoch_with_every_registered_sampler_on_the_device(tmp_path, cuda_device, sampler):
    """Every sampler, the shipped recipes' and the others (a single-path sampler scores candidate
    paths at the epoch's end; an outsider's), for one short NAS-Bench-201 epoch on the device."""
    from automl_nas.session import run_recipe_file

    result = run_recipe_file(REPO / "recipes" / "darts-nb201.toml", profile="quick", quiet=True, run_dir=tmp_path / "run",
                             overrides=[f"run.device={cuda_device!r}", "run.threads=1", "search.epochs=1",
                                        "search.steps_per_epoch=2", "search.valid_batches=1", f"run.root={str(tmp_path)!r}",
                                        f'search.sampler={{name="{sampler}"}}', 'evaluator={name="synflow"}'])
    assert result["status"] == "finished" and result["genotype"], result


def test_compiled_with_cuda_graphs_takes_the_eager_steps_on_device(tmp_path, cuda_device, monkeypatch):
    """``run.compile`` with ``reduce-overhead`` (CUDA graphs; step_time's compiled rows time it at paper
    size) takes the eager steps' results, as one graph per kind of step that later steps replay.

    The CPU dry run traces only (dynamo's ``eager`` backend: inductor needs minutes on 2 cores);
    tests/test_compile_graphs.py checks that tracing for every soft-weight recipe."""
    from torch._dynamo.utils import counters

    from automl_nas.engine.compile_watch import dynamo_breaks, dynamo_graphs

    if not cuda_device.startswith("cuda"):
        real = torch.compile
        monkeypatch.setattr(torch, "compile", lambda model, **kwargs: real(model, backend="eager"))
    recipe, tiny, extra, epoch = CASES[3]  # DrNAS: Dirichlet samples, a new weight every step
    torch._dynamo.reset()
    counters.clear()
    try:
        compiled = _build(tmp_path, cuda_device, recipe, tiny,
                          (*extra, "run.compile=true", "run.compile_mode='reduce-overhead'"), epoch, fast=True,
                          name="compiled")
        got = engine_steps_state(compiled, iterations=4)
        graphs, breaks = dynamo_graphs(), dict(dynamo_breaks())
    finally:
        torch._dynamo.reset()
    assert 1 <= graphs <= 2 and not breaks, f"{graphs} graphs, breaks {breaks}"
    want = engine_steps_state(_build(tmp_path, cuda_device, recipe, tiny, extra, epoch, fast=True, name="eager"),
                              iterations=4)
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=2e-5, msg=key)
