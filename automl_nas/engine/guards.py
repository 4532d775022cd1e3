"""Numerical faults, running out of memory and signals: stop cleanly, keep the last good checkpoint."""

from __future__ import annotations

import contextlib
import math
import signal

from automl_nas.engine.readout import StepValues
from automl_nas.errors import Interrupted, RunError, out_of_memory_as
from automl_nas.interrupts import handled
from automl_nas.records.rundir import resume_command

_STOPS = (signal.SIGINT, signal.SIGTERM)  # what stops a run: Ctrl-C, and a scheduler's or `timeout`'s SIGTERM


class NumericalFault(RunError):
    status = "failed"


class OutOfMemory(RunError):
    status = "failed"


def _kept(run) -> str:
    return (f"the last good checkpoint ({run.run_dir.checkpoint_file}) is kept" if run.run_dir.checkpoint_file.exists()
            else "no checkpoint had been written yet")


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
            raise NumericalFault(
                f"non-finite {', '.join(bad)} at epoch {epoch}, step {step}; the run stopped and {_kept(run)}",
                hint="lower the learning rates or narrow the temperature range in the recipe and start a new run "
                     "(resuming would repeat the same steps)",
            )

    def memory(self):
        """A step that needs more memory than the device has free stops the run as a run error
        with the ways to need less, instead of ending in an internal error's traceback."""
        search, run = self.search, self.search.run

        def stopped(said: str) -> OutOfMemory:
            done = len(search.history)
            return OutOfMemory(
                f"out of memory on {search.device} after {done} finished epoch{'' if done == 1 else 's'} ({said}); "
                f"the run stopped and {_kept(run)}",
                hint=f"start the run again needing less memory per step: a smaller data.batch_size (the recipe's is "
                     f"{search.recipe.data.batch_size}), run.bf16 = true on a GPU, a space option that recomputes "
                     f"activations in backward (e.g. space.checkpointing, where the space has it), or a device with "
                     f"more free memory; if other processes held the memory, `{resume_command(run.run_dir.path)}` "
                     f"continues")

        return out_of_memory_as(stopped)

    def interrupted(self) -> Interrupted:
        run = self.search.run
        done = len(self.search.history)
        when = f"after epoch {done}" if done else "in its first epoch"  # "after epoch 0" read as one finished
        return self._interrupted(f"stopped by {run.stop_requested} {when}")

    def _interrupted(self, said: str) -> Interrupted:
        run = self.search.run
        if run.run_dir.checkpoint_file.exists():
            exc = Interrupted(f"{said}; {_kept(run)}", hint=f"resume with `{resume_command(run.run_dir.path)}`")
        else:  # nothing to resume from (run.checkpoint_every = 0, or stopped in the first epoch)
            exc = Interrupted(f"{said}; {_kept(run)}",
                              hint=f"start it again: `automl run {run.run_dir.recipe_file}` (a new run directory)")
        exc.status = "interrupted"
        return exc

    @contextlib.contextmanager
    def stops_evaluation(self):
        """SIGINT/SIGTERM during the final evaluation stop it at once (an evaluator has no step to
        finish): the run ends as interrupted, and ``--resume`` runs the evaluation again, a
        retraining from its own checkpoint."""
        stopped = []

        def handler(signum, frame):
            stopped.append(signal.Signals(signum).name)
            raise KeyboardInterrupt

        try:
            with handled(_STOPS, handler):
                yield
        except KeyboardInterrupt:
            evaluator = self.search.plan.evaluator.component.name if self.search.plan.evaluator else "the evaluator"
            raise self._interrupted(f"stopped by {stopped[0] if stopped else 'SIGINT'} while evaluator {evaluator!r} "
                                    f"scored the found genotype, after all {len(self.search.history)} epochs of the "
                                    f"search") from None

    def signals(self):
        """SIGINT/SIGTERM finish the current step, then the loop stops (the epoch in flight is dropped)."""
        run = self.search.run
        return handled(_STOPS, lambda signum, frame: run.request_stop(signal.Signals(signum).name))


def building_memory(device: str):
    """Building the supernet and putting the data set on the device: running out of memory there
    (before anything is written) is a run error with the ways to need less, not an internal error."""
    return out_of_memory_as(lambda said: OutOfMemory(
        f"out of memory on {device} while building the supernet and loading the data set onto it ({said}); "
        f"nothing was written",
        hint="a smaller supernet (space options such as channels or cells) or data set (e.g. data.limit), or a "
             "device with more free memory"))
