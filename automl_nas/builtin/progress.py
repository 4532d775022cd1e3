"""Progress reporter: step and epoch lines with losses, accuracy, temperature and ETA."""

from __future__ import annotations

import time

import click

from automl_nas.hookspecs import hookimpl


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
    def automl_run_start(self, run) -> None:
        self.started = self.last = time.perf_counter()
        self.first_epoch = run.search.start_epoch
        click.echo(f"run {run.run_dir.path}: {run.plan.sampler.component.name} on {run.plan.space.component.name}, "
                   f"data {run.recipe.data.name}, {run.num_epochs} epochs x {run.search.steps} steps, device {run.device}", err=True)

    @hookimpl
    def automl_step_end(self, run, epoch: int, step: int, metrics: dict) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return
        self.last = now
        click.echo(f"  epoch {epoch + 1}/{run.num_epochs} step {step + 1}/{metrics['steps']} "
                   f"loss {metrics['loss']:.3f} acc {100 * metrics['acc']:.1f}%", err=True)

    @hookimpl
    def automl_epoch_end(self, run, epoch: int, metrics: dict) -> None:
        done = epoch + 1 - self.first_epoch
        elapsed = time.perf_counter() - self.started
        eta = elapsed / max(done, 1) * (run.num_epochs - epoch - 1)
        extra = "".join(f" {k} {metrics[k]:.3g}" for k in ("temperature",) if k in metrics)
        child = f" child {metrics['child_valid_acc']:.1f}%" if "child_valid_acc" in metrics else ""
        click.echo(f"epoch {epoch + 1}/{run.num_epochs} loss {metrics['train_loss']:.3f} train {metrics['train_acc']:.1f}% "
                   f"valid {metrics['valid_acc']:.1f}%{child}{extra} param-free {metrics['param_free_ops']} "
                   f"ETA {_fmt_time(eta)}\n  {metrics['genotype']}", err=True)
        self.last = time.perf_counter()

    @hookimpl
    def automl_run_end(self, run, result: dict) -> None:
        click.echo(f"{result['status']}: {result.get('genotype')} ({run.run_dir.path})", err=True)
