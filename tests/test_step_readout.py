"""The loop's per-step host values: one packed read per step, one step late on CUDA (issue 15)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from automl_nas.engine import run as engine_run
from automl_nas.engine.guards import Guard, NumericalFault
from automl_nas.engine.readout import StepReadout, StepValues
from automl_nas.readback import LaggedReads, lag_for
from automl_nas.testing import build_search

REPO = Path(__file__).resolve().parents[1]
TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "space.channels=4", "space.cells_per_stage=1",
        "run.device='cpu'", "run.threads=1", "search.steps_per_epoch=3", "search.epochs=2", "search.valid_batches=1"]


def _push(readout, step, loss, acc=0.5, arch=0.25, params=(torch.zeros(2, 3),)):
    return readout.push(step, torch.tensor(loss), torch.tensor(acc), torch.tensor(arch), params)


def test_lag_one_reads_each_step_after_the_next_is_queued():
    readout = StepReadout(lag=1)
    assert _push(readout, 0, 2.0) == []  # step 0 stays on the device while step 1 is queued
    assert _push(readout, 1, 1.5) == [StepValues(step=0, loss=2.0, acc=0.5, arch_loss=0.25, finite_groups=(True,))]
    assert _push(readout, 2, 1.0) == [StepValues(step=1, loss=1.5, acc=0.5, arch_loss=0.25, finite_groups=(True,))]
    assert [v.step for v in readout.drain()] == [2] and readout.drain() == []


def test_lag_zero_reads_at_once_and_flags_each_group():
    readout = StepReadout(lag=0)
    bad = torch.tensor([[0.0, float("nan")]])
    (values,) = _push(readout, 4, float("inf"), params=(torch.zeros(2), bad))
    assert values.step == 4 and math.isinf(values.loss) and values.finite_groups == (True, False)
    assert readout.drain() == []


def test_lag_follows_the_device():
    assert (lag_for("cuda"), lag_for("cuda:1"), lag_for("cpu")) == (1, 1, 0)


def test_one_device_read_per_step(monkeypatch):
    reads = []
    tolist = torch.Tensor.tolist

    def counted(self):
        reads.append(self.shape)
        return tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counted)
    readout = StepReadout(lag=0)
    _push(readout, 0, 1.0, params=(torch.zeros(1), torch.ones(2), torch.ones(3)))
    assert reads == [torch.Size([6])]  # loss, acc, arch loss and 3 group flags in one transfer


def test_the_guard_names_the_step_and_the_group(tmp_path):
    search = build_search(REPO / "recipes" / "darts-nb201.toml", root=tmp_path, overrides=TINY)
    guard = Guard(search)
    guard.check_step(search.run, 0, StepValues(step=2, loss=1.0, acc=0.1, arch_loss=1.0, finite_groups=(True,)))
    with pytest.raises(NumericalFault, match=r"non-finite architecture loss, architecture parameters 'cell' at epoch 1, step 2"):
        guard.check_step(search.run, 1, StepValues(step=2, loss=1.0, acc=0.1, arch_loss=float("nan"), finite_groups=(False,)))


class _StepHooks:
    def __init__(self) -> None:
        self.steps: list[tuple[int, int, float]] = []

    def call(self, name, **kw) -> None:
        if name == "automl_step_end":
            self.steps.append((kw["epoch"], kw["step"], kw["metrics"]["loss"]))


def _loop(tmp_path, name: str, monkeypatch, lag: int):
    monkeypatch.setattr(engine_run, "lag_for", lambda device: lag)
    search = build_search(REPO / "recipes" / "darts-nb201.toml", root=tmp_path, overrides=TINY, name=name)
    hooks = _StepHooks()
    search.run_epochs(Guard(search), hooks)
    lines = search.run.run_dir.read_metrics()
    assert len(lines) == 2
    return hooks.steps, [(line["train_loss"], line["train_acc"], line["arch_loss"]) for line in lines]


def test_the_cuda_lag_changes_when_values_are_read_not_what_is_recorded(tmp_path, monkeypatch):
    """With lag 1 (CUDA's) the hook still sees every step in order and the epoch means are
    unchanged: the same run, read one step later."""
    now = _loop(tmp_path, "lag0", monkeypatch, 0)
    late = _loop(tmp_path, "lag1", monkeypatch, 1)
    assert [(e, s) for e, s, _ in now[0]] == [(e, s) for e in range(2) for s in range(3)]
    assert now == late


def test_a_nan_is_caught_with_the_cuda_lag_too(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_run, "lag_for", lambda device: 1)
    search = build_search(REPO / "recipes" / "darts-nb201.toml", root=tmp_path,
                          overrides=[*TINY, "search.weights_optimizer.lr=1e38", "search.weights_optimizer.grad_clip=0.0"])
    hooks = _StepHooks()
    with pytest.raises(NumericalFault, match=r"non-finite .* at epoch 0, step (\d)") as caught:
        search.run_epochs(Guard(search), hooks)
    # the step named is the first non-finite one: every step the hook saw before it was finite
    bad_step = int(caught.value.args[0].split("step ")[1].split(";")[0])
    assert [s for _, s, _ in hooks.steps] == list(range(bad_step))
    assert all(math.isfinite(loss) for _, _, loss in hooks.steps)
    assert search.run.run_dir.read_metrics() == []  # the failing epoch is not recorded


def test_lagged_reads_keep_their_tags_in_order_at_any_lag():
    reads = LaggedReads(lag=2)
    due = [reads.push(("step", i), torch.tensor([float(i), 2.0 * i])) for i in range(4)]
    assert due == [[], [], [(("step", 0), [0.0, 0.0])], [(("step", 1), [1.0, 2.0])]]
    assert reads.drain() == [(("step", 2), [2.0, 4.0]), (("step", 3), [3.0, 6.0])] and reads.drain() == []
