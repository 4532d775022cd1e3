"""The Ray Tune executor: each trial is a Tune trial of a function trainable.

Resources come from the recipe (``[executor] cpus``, ``gpus``; fractional GPUs
pack several trials on one device), retries from ``FailureConfig(max_failures)``.
Ray is imported only when this executor is used.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from automl_nas.execution.cluster import RaySession, ray_output, short_error, use_token_auth
from automl_nas.execution.trial import TrialResult, TrialSpec, attempt_log, read_attempts, read_trial_result, run_trial
from automl_nas.hookspecs import hookimpl

__all__ = ["EpochToTune", "run_on_ray"]


class EpochToTune:
    """Reports every epoch record to Tune (``tune.report``), flattened to dotted numeric keys
    (``train_loss``, ``eval.cifar10``), so Tune's progress, ``progress.csv``, TensorBoard and
    its schedulers see the search as it runs, not only its end. With ``attempt_log`` (a batch
    with ``[executor] storage``) each report carries the trial's checkpoint
    (:mod:`automl_nas.execution.tune_checkpoints`)."""

    def __init__(self, attempt_log: Path | None = None) -> None:
        self.attempt_log = attempt_log

    @hookimpl
    def automl_epoch_end(self, run, epoch: int, metrics: dict) -> None:
        from ray import tune

        from automl_nas.execution.aggregate import flatten_numeric

        record = {**flatten_numeric(metrics), "epoch": epoch, "num_epochs": int(run.num_epochs)}
        if self.attempt_log is None:
            tune.report(record)
        else:
            from automl_nas.execution.tune_checkpoints import report_with_checkpoint

            report_with_checkpoint(record, Path(run.run_dir.path), self.attempt_log)


def _epoch_callback(on_epoch):
    """A Tune callback in the driver: each epoch report becomes an
    :class:`~automl_nas.execution.epochs.EpochEvent` for ``on_epoch`` (the batch's progress
    lines), the same stream the other executors give."""
    from ray import tune

    from automl_nas.execution.epochs import EpochEvent

    class EpochLines(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("trial_end") or "epoch" not in result:
                return  # the trial's final record, not an epoch
            metrics = {k: float(v) for k, v in result.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _TUNE_KEYS}
            on_epoch(EpochEvent(trial=_trial_name(trial), epoch=int(result["epoch"]),
                                num_epochs=int(result.get("num_epochs", 0)), metrics=metrics))

    return EpochLines()


# What Tune adds to every report (not the search's own metrics).
_TUNE_KEYS = {"epoch", "num_epochs", "trial_end", "timestamp", "time_this_iter_s", "time_total_s", "training_iteration",
              "pid", "time_since_restore", "iterations_since_restore", "done", "episodes_total", "timesteps_total"}


def _trainable(config: dict) -> None:
    # Runs on a Ray worker; it rebuilds the spec and its own plugin manager.
    from ray import tune

    from automl_nas.execution.placement import ray_placement
    from automl_nas.execution.sync import run_shipped

    spec = TrialSpec(**config["spec"])
    placement, checkpoints = ray_placement(), bool(config.get("checkpoints"))

    def attempt(local: TrialSpec) -> dict:
        log = attempt_log(local)
        if checkpoints:  # a retry resumes from Tune's latest checkpoint of this trial, on any node
            from automl_nas.execution.tune_checkpoints import restore_latest

            restore_latest(Path(local.run_dir), log)
        progress = [(EpochToTune(log if checkpoints else None), "tune-epoch-report")]
        return run_trial(local, extra_plugins=progress, placement=placement)  # a recipe's refusal: returned, not retried

    if config.get("sink"):  # a cluster: records go back to the driver through the sink
        result = run_shipped(spec, config["sink"], config["recipes"][spec.recipe_path], attempt)
    else:
        result = attempt(spec)
    # The final record for Tune's tables: the result's numbers; the driver reads result.json itself
    # (in place, or written into the batch directory by the sink before this report).
    from automl_nas.execution.aggregate import flatten_numeric

    tune.report({**flatten_numeric(result), "status": result.get("status", "finished"), "trial_end": 1})


def run_on_ray(specs: Iterable[TrialSpec], *, cpus: float = 1.0, gpus: float = 0.0, retries: int = 0,
               storage: str | Path, address: str | None = None, quiet: bool = True,
               on_result: Callable[[TrialResult], None] | None = None, experiment: str = "tune",
               on_epoch: Callable | None = None, checkpoint_storage: str = "") -> list[TrialResult]:
    """Run the specs as parallel Tune trials (Tune experiment ``experiment`` under ``storage``);
    failed trials are recorded, never raised; ``on_epoch`` receives every epoch of every trial
    (an :class:`~automl_nas.execution.epochs.EpochEvent`) in the driver while they run.
    ``checkpoint_storage`` (a path or URI every node reaches) becomes Tune's storage, and each
    trial hands Tune a checkpoint after every epoch (``<batch>-<experiment>`` under it)."""
    import attrs

    # Quiet unless asked (ray_output): Tune reads these when ray.tune is first imported.
    quiet = quiet or not ray_output()
    if quiet:
        os.environ.setdefault("AIR_VERBOSITY", "0")
        # Tune's new output engine prints its experiment banner even at verbosity 0; the
        # legacy reporter (RAY_AIR_NEW_OUTPUT=0, a documented switch) prints nothing at 0.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    use_token_auth()
    # Trials stay in the (shipped) working directory, so relative paths in recipes hold; Tune
    # passes this variable from the driver to its trainables.
    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    from ray import tune

    specs = list(specs)
    by_dir, reported = {s.run_dir: s for s in specs}, set()
    # On a cluster nothing is shared but the driver: the working directory travels as the
    # job's runtime_env and records come back through the session's sink.
    with RaySession(batch_dir=Path(storage).resolve().parent, address=address, quiet=quiet, stream=False, cpus=cpus,
                    gpus=gpus) as session:
        shipped = [_shippable(s) for s in specs] if session.cluster else specs
        trainable = tune.with_resources(_trainable, {"cpu": cpus, "gpu": gpus})
        stop = _stop_at_step()
        tuner = tune.Tuner(
            trainable,
            param_space={"spec": tune.grid_search([attrs.asdict(s) for s in shipped]),
                         "sink": session.shipping.sink,
                         "checkpoints": bool(checkpoint_storage),
                         "recipes": {s.recipe_path: Path(s.recipe_path).read_text(encoding="utf-8")
                                     for s in specs} if session.cluster else {}},
            tune_config=tune.TuneConfig(num_samples=1, reuse_actors=False, trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(name=f"{Path(storage).resolve().parent.name}-{experiment}" if checkpoint_storage
                                      else experiment, storage_path=_storage_path(checkpoint_storage or storage),
                                      verbose=0 if quiet else 1,
                                      failure_config=tune.FailureConfig(max_failures=retries),
                                      callbacks=[*([_epoch_callback(on_epoch)] if on_epoch else []),
                                                 *([_end_callback(on_result, by_dir, reported)] if on_result else []),
                                                 stop]),
        )
        # stdout carries only the command's JSON summary; Tune's banner and tables go to stderr.
        with contextlib.redirect_stdout(sys.stderr), _stopped_by_signal(Path(storage).resolve().parent, stop), \
                _tune_logs_off(quiet):
            grid = tuner.fit()
        results = [_outcome(by_dir[grid[i].config["spec"]["run_dir"]], grid[i].error) for i in range(len(grid))]
    order = {s.run_dir: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order[r.spec.run_dir])
    if on_result is not None:
        for r in results:
            if r.spec.run_dir not in reported:  # ended without Tune's callback (it reports each as it ends)
                on_result(r)
    return results


@contextlib.contextmanager
def _tune_logs_off(quiet: bool):
    """Tune logs a trial's failure as an ERROR with Ray's traceback, even a worker death that
    its retry then recovers: the tool's own trial line says what happened (--ray-output shows Tune's)."""
    import logging

    logger = logging.getLogger("ray.tune")
    level = logger.level
    if quiet:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _stop_at_step():
    """A Tune callback that is also the driver's SIGINT/SIGTERM handler while Tune runs: a signal
    only asks, and the next step of Tune's loop (every ~0.1 s, in the main thread) raises
    :class:`KeyboardInterrupt` there, between steps. Raised by the handler itself, it landed
    wherever the main thread was: often in Tune's result callbacks, as the epoch line is printed
    (its loggers' queues and files, mid-update). Once in CI such a driver printed its summary and
    then did not exit. A second signal raises at once."""
    from ray import tune

    class StopAtStep(tune.Callback):
        requested = False

        def request(self, signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt

    return StopAtStep()


@contextlib.contextmanager
def _stopped_by_signal(batch_dir: Path, stop: Any):
    """Ctrl-C or SIGTERM stops the batch as an interruption (exit 130, naming ``--resume``), at
    the next step of Tune's loop (``stop``: :func:`_stop_at_step`).

    Tune's own SIGINT handler (switched off here) ended the run instead: every unfinished trial
    was reported as failed with ``SystemExit: 0`` (exit 5) and Tune advised ``Tuner.restore``,
    which does not finish a batch's records."""
    import signal

    from automl_nas.errors import Interrupted
    from automl_nas.interrupts import handled

    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # SIGINT left ignored when it was (a job a script started in the background: Ctrl-C is not for it)
    asked = [signal.SIGTERM, *([signal.SIGINT] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else [])]
    try:
        with handled(asked, stop.request):
            yield
    except KeyboardInterrupt:
        raise Interrupted(f"seed batch {batch_dir} stopped; finished trials are kept, and each other trial keeps its "
                          f"last checkpoint", hint=f"continue with `automl run --resume {batch_dir}`") from None


def _storage_path(storage: str | Path) -> str:
    # Tune wants an absolute local path; a URI (s3://, gs://, file://) is passed as it is.
    return str(storage) if "://" in str(storage) else str(Path(storage).resolve())


def _trial_name(trial) -> str:
    # `seed-3`, not Tune's default: the stringified spec dict (issue 14).
    return trial.config["spec"]["name"] or Path(trial.config["spec"]["run_dir"]).name


def _shippable(spec: TrialSpec) -> TrialSpec:
    """``spec`` as a node without the driver's disk runs it: no ``chdir`` (the worker starts in
    the shipped working directory); the recipe's text travels in the trial's config."""
    import attrs

    return attrs.evolve(spec, workdir="")


def _end_callback(on_result: Callable[[TrialResult], None], by_dir: dict[str, TrialSpec], reported: set[str]):
    """A Tune callback in the driver: each trial's outcome goes to ``on_result`` as it ends (the
    batch's "trial seed-1: finished" lines came only when the whole batch had ended)."""
    from ray import tune

    class EndLines(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            self._ended(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info):  # its retries spent
            self._ended(trial, trial.get_pickled_error() or trial.get_error() or RuntimeError("the trial failed"))

        def _ended(self, trial, error: BaseException | None) -> None:
            run_dir = trial.config["spec"]["run_dir"]
            if run_dir not in reported:
                reported.add(run_dir)
                on_result(_outcome(by_dir[run_dir], error))

    return EndLines()


def _outcome(spec: TrialSpec, error: BaseException | None) -> TrialResult:
    """The trial's result: its ``result.json`` (written in place, or by the sink), or its failure."""
    attempts = read_attempts(spec)
    payload = read_trial_result(spec.run_dir)
    if error is None and payload is not None:
        status = payload.get("status", "finished")
        return TrialResult(spec=spec, status=status, result=payload, attempts=max(len(attempts), 1),
                           error=payload.get("error") if status != "finished" else None)
    from automl_nas.execution.trial import failed_result

    return failed_result(spec, fallback_error=short_error(error))
