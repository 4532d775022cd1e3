"""Numerical faults and signals: stop cleanly, keep the last good checkpoint."""

from __future__ import annotations

import contextlib
import math
import signal

from automl_nas.engine.readout import StepValues
from automl_nas.errors import Interrupted, RunError


class NumericalFault(RunError):
    status = "failed"


class Guard:
    def __init__(self, search) -> None:
        self.search = search

    def check_step(self, run, epoch: int, values: StepValues) -> None:
        """Stop the run when a step's losses or architecture parameters are not finite."""
        step = values.step
        bad = [name for name, value in (("weight loss", values.loss), ("architecture loss", values.arch_loss))
               if not math.isfinite(value)]
        bad += [f"architecture parameters {k!r}" for k, ok in zip(run.params, values.finite_groups) if not ok]
        if bad:
            kept = (f"the last good checkpoint ({run.run_dir.checkpoint_file}) is kept" if run.run_dir.checkpoint_file.exists()
                    else "no checkpoint had been written yet")
            raise NumericalFault(
                f"non-finite {', '.join(bad)} at epoch {epoch}, step {step}; the run stopped and {kept}",
                hint="lower the learning rates or narrow the temperature range in the recipe and start a new run "
                     "(resuming would repeat the same steps)",
            )

    def interrupted(self) -> Interrupted:
        run = self.search.run
        exc = Interrupted(f"stopped by {run.stop_requested} after epoch {len(self.search.history)}; checkpoint kept at "
                          f"{run.run_dir.checkpoint_file}", hint=f"resume with `automl run --resume {run.run_dir.path}`")
        exc.status = "interrupted"
        return exc

    @contextlib.contextmanager
    def signals(self):
        """SIGINT/SIGTERM finish the current step, then the loop stops (the epoch in flight is dropped)."""
        run = self.search.run

        def handler(signum, frame):
            run.request_stop(signal.Signals(signum).name)

        previous = {}
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. inside a Ray worker thread)
            previous = {}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
