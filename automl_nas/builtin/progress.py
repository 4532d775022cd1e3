"""Progress reporter: step and epoch lines with losses, accuracy, temperature and ETA."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from automl_nas.hookspecs import hookimpl

if TYPE_CHECKING:
    from automl_nas.api.run import RunContext
    from automl_nas.records.schema import EpochRecord, RunResult


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class ProgressReporter:
    """Registered per run (``automl run`` without ``--quiet``) like any other plugin."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.started = self.last = time.perf_counter()
        self.first_epoch = 0

    @hookimpl
    def automl_run_start(self, run: RunContext) -> None:
        self.started = self.last = time.perf_counter()
        self.first_epoch = run.start_epoch
        click.echo(f"run {run.run_dir.path}: {run.sampler_name} on {run.space_name}, data {run.recipe.data.name}, "
                   f"{run.num_epochs} epochs x {run.steps_per_epoch} steps, device {run.device}", err=True)

    @hookimpl
    def automl_step_end(self, run: RunContext, epoch: int, step: int, metrics: dict) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return
        self.last = now
        click.echo(f"  epoch {epoch + 1}/{run.num_epochs} step {step + 1}/{metrics['steps']} "
                   f"loss {metrics['loss']:.3f} acc {100 * metrics['acc']:.1f}%", err=True)

    @hookimpl
    def automl_epoch_end(self, run: RunContext, epoch: int, record: EpochRecord) -> None:
        done = epoch + 1 - self.first_epoch
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(done, 1) * (run.num_epochs - epoch - 1)
        extra = "".join(f" {k} {v:.3g}" for k, v in record.sampler_status.items() if k == "temperature")
        child = f" child {record.child_valid_acc:.1f}%" if record.child_valid_acc is not None else ""
        free = "n/a" if record.param_free_ops is None else record.param_free_ops
        click.echo(f"epoch {epoch + 1}/{run.num_epochs} loss {record.train_loss:.3f} train {record.train_acc:.1f}% "
                   f"valid {record.valid_acc:.1f}%{child}{extra} param-free {free} "
                   f"ETA {_fmt_time(eta)}\n  {record.genotype}", err=True)
        self.last = time.perf_counter()

    @hookimpl
    def automl_run_end(self, run: RunContext, record: RunResult) -> None:
        click.echo(f"{record.status}: {record.genotype} ({run.run_dir.path})", err=True)
