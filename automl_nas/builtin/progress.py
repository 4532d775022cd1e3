"""Progress reporter: a live line on a terminal, log lines elsewhere, through Python ``logging``.

Every message goes to the logger ``automl_nas.progress`` (INFO), so users route, filter or
silence it like any other library's output: give ``automl_nas`` (or ``automl_nas.progress``)
a handler and the reporter leaves the printing to it. Without one, the reporter attaches its
own stderr handler for the run (not propagating, so a root handler does not print it twice)
and removes it afterwards, which prints what the CLI always printed.

When stderr is a terminal (issue 19), the steps of an epoch update one live line instead (tqdm:
steps done, loss, accuracy, the temperature of the last epoch, the run's ETA), and epoch
lines are printed above it; otherwise a step line is logged every ``every_s`` seconds.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

import click

from automl_nas.hookspecs import hookimpl

if TYPE_CHECKING:
    from automl_nas.api.run import RunContext
    from automl_nas.records.schema import EpochRecord, RunResult

__all__ = ["LOGGER", "ProgressReporter", "fmt_duration"]

LOGGER = "automl_nas.progress"
log = logging.getLogger(LOGGER)


def fmt_duration(seconds: float) -> str:
    """``"3m07s"``, or ``"1h02m"`` from an hour on (an ETA's form)."""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class _EchoHandler(logging.Handler):
    """The default handler: the message alone on the stream (above the live line if there is one)."""

    def __init__(self, stream: TextIO | None, live: Any = None) -> None:
        super().__init__(logging.INFO)
        self.stream, self.live = stream, live

    def emit(self, record: logging.LogRecord) -> None:
        msg = self.format(record)
        if self.live is not None:
            self.live.write(msg, file=self.stream or sys.stderr)
        elif self.stream is not None:
            self.stream.write(msg + "\n")
            self.stream.flush()
        else:  # resolved at each call, so click's test runner and redirections are honoured
            click.echo(msg, err=True)


class ProgressReporter:
    """Registered per run (``automl run`` without ``--quiet``) like any other plugin.

    Args:
        every_s: seconds between step lines when there is no live line.
        live: force the live line on or off (default: when the stream is a terminal).
        stream: where the default handler and the live line write (default: stderr).
    """

    def __init__(self, every_s: float = 10.0, *, live: bool | None = None, stream: TextIO | None = None) -> None:
        self.every_s = every_s
        self.live_wanted = live
        self.stream = stream
        self.started = self.last = time.perf_counter()
        self.first_epoch = 0
        self.bar: Any = None
        self.live: Any = None  # tqdm's class while a live line is shown
        self.temperature: float | None = None
        self._handler: logging.Handler | None = None
        self._level = logging.NOTSET  # the logger's level before the run, put back after it

    # ---- output plumbing ----
    def _is_tty(self) -> bool:
        stream = self.stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def _open(self) -> None:
        live = self._is_tty() if self.live_wanted is None else self.live_wanted
        tqdm = None
        if live:
            from tqdm import tqdm
        self._level = log.level
        if log.level == logging.NOTSET and logging.getLogger("automl_nas").level == logging.NOTSET:
            log.setLevel(logging.INFO)  # for this run: what the CLI prints; a level the user set silences it (README)
        if not log.handlers and not logging.getLogger("automl_nas").handlers:  # not routed: print it ourselves
            self._handler = _EchoHandler(self.stream, tqdm)
            log.addHandler(self._handler)
            log.propagate = False
        self.live = tqdm if log.isEnabledFor(logging.INFO) else None  # a silenced reporter draws no live line

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        log.setLevel(self._level)
        if self._handler is not None:
            log.removeHandler(self._handler)
            log.propagate = True
            self._handler = None

    def _bar(self, run: RunContext, epoch: int, steps: int) -> Any:
        if self.bar is None:
            # A terminal that reports no size (0 columns: some emulators, `script`) gets 100 columns.
            sized = shutil.get_terminal_size((0, 0)).columns >= 20
            # A non-UTF-8 terminal (LANG=C) gets an ASCII bar: tqdm turns itself off on an encoding error.
            encoding = (getattr(self.stream or sys.stderr, "encoding", "") or "").lower().replace("-", "")
            self.bar = self.live(total=steps, desc=f"epoch {epoch + 1}/{run.num_epochs}", file=self.stream,
                                 leave=False, dynamic_ncols=sized, ncols=None if sized else 100, mininterval=0.2,
                                 ascii=None if encoding.startswith("utf") else True,
                                 bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {postfix}")
        return self.bar

    def _eta(self, run: RunContext, epoch: int, step: int, steps: int) -> float:
        done = (epoch - self.first_epoch) * steps + step + 1
        left = (run.num_epochs - epoch) * steps - step - 1
        return (time.perf_counter() - self.started) / max(done, 1) * left

    # ---- hooks ----
    @hookimpl
    def automl_run_start(self, run: RunContext) -> None:
        self.started = self.last = time.perf_counter()
        self.first_epoch = run.start_epoch
        self._open()
        log.info("run %s: %s on %s, data %s, %d epochs x %d steps, device %s", run.run_dir.path, run.sampler_name,
                 run.space_name, run.recipe.data.name, run.num_epochs, run.steps_per_epoch, run.device)

    @hookimpl
    def automl_step_end(self, run: RunContext, epoch: int, step: int, metrics: dict) -> None:
        steps = int(metrics.get("steps") or run.steps_per_epoch or 1)
        if self.live is not None:
            temp = "" if self.temperature is None else f" T {self.temperature:.3g}"
            bar = self._bar(run, epoch, steps)
            bar.set_postfix_str(f"loss {metrics['loss']:.3f} acc {100 * metrics['acc']:.1f}%{temp} "
                                f"ETA {fmt_duration(self._eta(run, epoch, step, steps))}", refresh=False)
            bar.update(1)
            if step + 1 == steps:
                bar.refresh()  # the epoch's last state is drawn even when steps are faster than mininterval
            return
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return
        self.last = now
        log.info("  epoch %d/%d step %d/%d loss %.3f acc %.1f%%", epoch + 1, run.num_epochs, step + 1, steps,
                 metrics["loss"], 100 * metrics["acc"])

    @hookimpl
    def automl_epoch_end(self, run: RunContext, epoch: int, record: EpochRecord) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.temperature = record.sampler_status.get("temperature")
        done = epoch + 1 - self.first_epoch
        eta = (time.perf_counter() - self.started) / max(done, 1) * (run.num_epochs - epoch - 1)
        extra = "" if self.temperature is None else f" temperature {self.temperature:.3g}"
        child = f" child {record.child_valid_acc:.1f}%" if record.child_valid_acc is not None else ""
        free = "n/a" if record.param_free_ops is None else record.param_free_ops
        log.info("epoch %d/%d loss %.3f train %.1f%% valid %.1f%%%s%s param-free %s ETA %s\n  %s", epoch + 1,
                 run.num_epochs, record.train_loss, record.train_acc, record.valid_acc, child, extra, free,
                 fmt_duration(eta), record.genotype)
        self.last = time.perf_counter()

    @hookimpl
    def automl_run_end(self, run: RunContext, record: RunResult) -> None:
        try:
            # a run stopped before its first epoch has no genotype yet ("interrupted: None" said nothing)
            log.info("%s: %s (%s)", record.status, record.genotype or "no genotype yet", run.run_dir.path)
        finally:
            self._close()
