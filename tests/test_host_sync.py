"""No host synchronisation inside a search step (issue 15), counted on the CPU.

On a GPU, reading a device tensor's value on the host (``.item()``, ``float(t)``, ``bool(t)``
in an ``if``, ``.tolist()``, ``.cpu()``, data-dependent shapes such as ``nonzero``) blocks the
CPU until the GPU has caught up, so the next kernels cannot be queued ahead. A
``TorchFunctionMode`` sees every such call on a tensor; these tests run the engine's steps of
every shipped method under it and require none. Around the steps, the loop reads each step's
losses, accuracy and parameter finiteness in one packed transfer (``automl_nas/readback.py``; on
CUDA one step late, so the next step is already queued) and each validation pass once.

GDAS is the one method with a read by design: its supernet runs only the sampled op, so k* must
reach the host, once per sample (one transfer with the finiteness check; issue 8). That is also
why it is not compiled (``run.compile``): each new sample is a new graph.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from automl_nas.testing import build_search

REPO = Path(__file__).resolve().parents[1]
#: Tensor functions that read device values on the host or size outputs by device values.
SYNCING = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy", "nonzero",
           "masked_select", "unique", "equal", "allclose", "argwhere", "repeat_interleave", "__array__"}
NB201_TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "space.channels=8", "space.cells_per_stage=1",
              "run.device='cpu'", "run.threads=1"]
DARTS_TINY = ['data={name="digits", size=8, batch_size=8, limit=64}', "space.channels=4", "space.layers=3",
              "run.device='cpu'", "run.threads=1"]
PROGRESSIVE = ("search.sampler.stage_epochs=[2, 2]", "search.sampler.warmup_epochs=0")


class SyncCounter(TorchFunctionMode):
    """Records every call that would synchronise with the device: (name, place, first argument)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, object]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        repeats = args[1] if len(args) > 1 else (kwargs or {}).get("repeats")
        # repeat_interleave sizes its output by the values only when the repeats are a tensor
        if name in SYNCING and (name != "repeat_interleave" or isinstance(repeats, torch.Tensor)):
            import traceback

            frame = traceback.extract_stack()[-2]
            self.calls.append((name, f"{Path(frame.filename).name}:{frame.lineno}", args[0] if args else None))
        return func(*args, **(kwargs or {}))

    def device_reads(self, *optimizers) -> list[str]:
        """The calls, less those on optimisers' step counters (host tensors on every device
        unless ``capturable``: reading them never waits for the GPU)."""
        steps = {id(st["step"]) for opt in optimizers if opt is not None for st in opt.state.values() if "step" in st}
        return [f"{name} at {where}" for name, where, arg in self.calls if id(arg) not in steps]


def test_the_counter_sees_host_reads():
    t = torch.ones(3)
    with SyncCounter() as counter:
        float(t.sum())
        if t[0] > 0:
            t.tolist()
    assert [c.split(" ")[0] for c in counter.device_reads()] == ["__float__", "__bool__", "tolist"]


@pytest.mark.parametrize("recipe, tiny, extra, epoch", [
    ("darts-nb201.toml", NB201_TINY, (), 0),
    ("gdas.toml", NB201_TINY, (), 0),
    ("snas.toml", NB201_TINY, (), 0),
    ("drnas.toml", NB201_TINY, (), 0),
    ("drnas-progressive.toml", NB201_TINY, PROGRESSIVE, 2),
    ("darts.toml", DARTS_TINY, (), 0),
    ("gdas-darts.toml", DARTS_TINY, (), 0),
], ids=["darts-nb201", "gdas", "snas", "drnas", "drnas-progressive-stage2", "darts-2nd-order", "gdas-darts"])
def test_a_search_step_reads_nothing_back_from_the_device(tmp_path, recipe, tiny, extra, epoch):
    search = build_search(REPO / "recipes" / recipe, root=tmp_path, overrides=[*tiny, *extra], epoch=epoch)
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    batches = [(next(train), next(arch)) for _ in range(3)]
    for i, ((x, y), (xv, yv)) in enumerate(batches):
        with SyncCounter() as counter:  # the first iteration too: optimiser state is created then
            if search.recipe.search.mode == "single_level":
                search.single_step(x, y, True)
            else:
                search.arch_step(xv, yv, x, y)
                search.weight_step(x, y)
        reads = counter.device_reads(search.run.weight_optimizer, search.run.arch_optimizer)
        samples = 2 * len(search.run.params)  # one per group in the arch and the weight step
        expected = ["tolist at sampler.py:67"] * samples if search.sampler.name == "gdas" else []
        assert reads == expected, f"iteration {i}: {reads}"


class _NoHooks:
    def call(self, *args, **kwargs) -> None:
        pass


def _loop_reads(tmp_path, recipe: str, steps: int, valid_batches: int = 2) -> list[str]:
    from automl_nas.engine.guards import Guard

    search = build_search(REPO / "recipes" / recipe, root=tmp_path / f"{recipe}-{steps}-{valid_batches}",
                          overrides=[*NB201_TINY, f"search.steps_per_epoch={steps}", "search.epochs=1",
                                     "data.eval_batch_size=16", f"search.valid_batches={valid_batches}"])
    with SyncCounter() as counter:
        search.run_epochs(Guard(search), _NoHooks())
    return counter.device_reads(search.run.weight_optimizer, search.run.arch_optimizer)


@pytest.mark.parametrize("recipe", ["darts-nb201.toml", "snas.toml"])
def test_the_loop_reads_each_step_once_and_each_validation_pass_once(tmp_path, recipe):
    """Per step, the loop's guard, epoch means and hook cost one packed read (automl_nas/readback.py);
    the per-epoch work (validation passes, derive, diagnostics, checkpoint) reads a fixed number
    of times however many steps and validation batches the epoch has."""
    few, more = _loop_reads(tmp_path, recipe, 2), _loop_reads(tmp_path, recipe, 5)
    per_step = [r for r in more if r.startswith("tolist at readback.py")]
    assert len(per_step) == 5 and len([r for r in few if r.startswith("tolist at readback.py")]) == 2
    assert sorted(r for r in more if r not in per_step) == sorted(r for r in few if not r.startswith("tolist at readback.py"))
    passes = 2 if recipe == "snas.toml" else 1  # SNAS also scores a sampled child
    assert len([r for r in more if r.startswith("__int__ at run.py")]) == passes  # not one per validation batch
    # nor does drawing the children read per batch: one validation batch or three, the same reads
    assert sorted(_loop_reads(tmp_path, recipe, 2, valid_batches=1)) == sorted(_loop_reads(tmp_path, recipe, 2, valid_batches=3))


@pytest.mark.parametrize("recipe, tiny, extra, epoch", [
    ("drnas-progressive.toml", NB201_TINY, PROGRESSIVE, 2),
    ("darts.toml", DARTS_TINY, ("space.track_running_stats=true",), 0),
], ids=["drnas-progressive-stage2", "darts-2nd-order"])
def test_a_data_parallel_step_with_global_batch_statistics_reads_nothing_back(tmp_path, recipe, tiny, extra, epoch):
    """``run.sync_batch_norm``'s batch norm (automl_nas/nn/synced_batch_norm.py) keeps the global
    count and statistics on the device: no read in the forward, the backward or the running
    statistics' update. One process with the identity as its reduction stands in for the ranks."""
    from automl_nas.nn.synced_batch_norm import GlobalBatchStatistics

    search = build_search(REPO / "recipes" / recipe, root=tmp_path, overrides=[*tiny, *extra], epoch=epoch)
    reductions = []
    search.batch_statistics = lambda: GlobalBatchStatistics(lambda t: reductions.append(t.numel()) or t)
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    for i in range(2):
        (x, y), (xv, yv) = next(train), next(arch)
        with SyncCounter() as counter:
            search.arch_step(xv, yv, x, y)
            search.weight_step(x, y)
        reads = counter.device_reads(search.run.weight_optimizer, search.run.arch_optimizer)
        assert reads == [], f"iteration {i}: {reads}"
    assert reductions  # the steps really ran the global batch norm


def test_retraining_reads_each_step_once_and_the_test_pass_once(tmp_path):
    """The retraining evaluator (morphism search, ``automl eval``) on the search's terms: a step
    reads nothing back; the epoch reads each step's loss and correct count in one transfer (on
    CUDA one step late) and the test pass once, not per batch."""
    from automl_nas.api import EvalContext
    from automl_nas.testing import colour_blobs
    from automl_nas_eval_retrain.config import RetrainConfig
    from automl_nas_eval_retrain.evaluator import Retrain
    from automl_nas_space_nb201.space import Nb201Space

    data = colour_blobs(n=80, test=16)  # 64 training and 16 test images
    space = Nb201Space()
    genotype = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")
    evaluator = Retrain(RetrainConfig(epochs=2, batch_size=16, eval_batch_size=4, threads=1,
                                      network={"channels": 4, "cells_per_stage": 1}))
    with SyncCounter() as counter:
        evaluator.evaluate(genotype, EvalContext(space=space, data=data, seed=0, log=lambda msg: None))
    reads = counter.device_reads()
    in_trainer = [r for r in reads if " at trainer.py:" in r]
    steps = 2 * (64 // 16)
    assert len([r for r in reads if r.startswith("tolist at readback.py")]) == steps  # the trainer's packed reads
    assert len([r for r in in_trainer if r.startswith("__int__")]) == 1  # 4 test batches, one read
    assert len(in_trainer) == 1, in_trainer
