"""The worker side of a trial: :func:`run_trial` runs one attempt of a
:class:`~automl_nas.records.trial.TrialSpec` in this process and logs every attempt.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from automl_nas.records.trial import Placement, TrialResult, TrialSpec, attempt_log_of, read_trial_result

__all__ = ["TrialSpec", "TrialResult", "attempt_log", "close_running_attempt", "failed_result", "read_attempts",
           "read_trial_result", "run_trial"]


def attempt_log(spec: TrialSpec) -> Path:
    """One JSON line per attempt, next to the run directory (survives retries)."""
    return attempt_log_of(spec.run_dir)


def read_attempts(spec: TrialSpec) -> list[dict]:
    """One record per attempt (the log holds a ``running`` line at its start and one at its end,
    so an attempt whose worker died still counts)."""
    from automl_nas.records.rundir import read_jsonl

    merged: dict[int, dict] = {}
    for entry in read_jsonl(attempt_log(spec)):
        merged.setdefault(entry["attempt"], {}).update(entry)
    return [merged[k] for k in sorted(merged)]


def close_running_attempt(spec: TrialSpec, status: str, why: str) -> bool:
    """End the log's last attempt with ``status`` if it is still ``running`` (its worker was
    stopped with the driver and ran no ``finally``, as Ray's are on Ctrl-C); whether it was."""
    attempts = read_attempts(spec)
    if not attempts or attempts[-1].get("status") != "running":
        return False
    _append(attempt_log(spec), {"attempt": attempts[-1]["attempt"], "status": status, "error": why, "ended": time.time()})
    return True


def _resumable(run_dir: Path) -> bool:
    from automl_nas.records.rundir import RunDir

    rd = RunDir(run_dir)
    return rd.checkpoint_file.is_file() and rd.recipe_file.is_file()


def _set_aside_previous_attempt(run_dirs: list[Path], attempt: int) -> None:
    # A retry without a checkpoint starts clean; the failed attempt's directories (the run's and,
    # for a ranked trial, its ranks') are kept for inspection instead of appending to their records.
    for run_dir in run_dirs:
        if run_dir.is_dir() and any(run_dir.iterdir()):
            run_dir.rename(run_dir.with_name(f"{run_dir.name}.attempt-{attempt - 1}"))


def run_trial(spec: TrialSpec, extra_plugins=(), placement: Placement | None = None) -> dict:
    """Run one attempt of ``spec`` in this process; returns ``result.json``'s content.

    A retry whose earlier attempt left a checkpoint (a worker that died, a
    pre-empted node) resumes from it; otherwise it starts clean. Raises whatever
    the run raises (so Ray can retry it), except the recipe's refusal (a
    :class:`~automl_nas.errors.RecipeError`), which is returned as a failed result: the same
    recipe fails the same way, so no executor (nor Tune) retries it. Every attempt is logged to
    :func:`attempt_log` before it starts and again when it ends. ``placement`` (default: this
    process, local executor) is logged with the attempt and written to ``env.json``.
    """
    previous = os.getcwd()
    if spec.workdir:  # empty on a cluster: the worker starts in the shipped working directory
        os.chdir(spec.workdir)
    from automl_nas.errors import RecipeError

    try:
        return _run_trial(spec, extra_plugins, placement)
    except RecipeError as exc:
        return _refused_result(spec, exc)
    finally:
        os.chdir(previous)  # a trial run in the caller's process (local executor) leaves its directory as it was


def _run_trial(spec: TrialSpec, extra_plugins, placement: Placement | None) -> dict:
    from automl_nas.execution.placement import local_placement, record_placement

    from automl_nas.session import resume_run, run_recipe_file

    log = attempt_log(spec)
    log.parent.mkdir(parents=True, exist_ok=True)
    attempt = len(read_attempts(spec)) + 1
    resume = attempt > 1 and _resumable(Path(spec.run_dir))
    if not resume:
        from automl_nas.execution.ranks import rank_dirs

        _set_aside_previous_attempt(rank_dirs(spec), attempt)
    placement = placement or local_placement()
    entry = {"attempt": attempt, "pid": os.getpid(), "started": time.time(), "resumed": resume,
             "executor": placement.name, "host": placement.host, "node_id": placement.node_id}
    _append(log, {**entry, "status": "running"})
    try:
        if spec.ranks > 1:  # one data-parallel search over several processes
            from automl_nas.execution.ranks import run_ranked

            result = run_ranked(spec, resume=resume, plugins=[plugin for plugin, _ in extra_plugins],
                                log=log.with_suffix(".ranks.log"))
        elif resume:
            result = resume_run(spec.run_dir, quiet=True, extra_plugins=extra_plugins)
        else:
            result = run_recipe_file(spec.recipe_path, profile=spec.profile, overrides=list(spec.overrides),
                                     run_dir=spec.run_dir, quiet=True, extra_plugins=extra_plugins)
    except BaseException as exc:
        from automl_nas.errors import Interrupted

        # a stop (also one a second Ctrl-C cut short: a bare KeyboardInterrupt) is no failure of the trial
        status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Interrupted)) else getattr(exc, "status", "failed")
        entry.update(status=status, error=_error_text(exc))
        _append(log, entry)
        record_placement(spec.run_dir, placement)
        raise
    record_placement(spec.run_dir, placement)
    entry.update(status=result.get("status", "finished"))
    _append(log, entry)
    return result


def _refused_result(spec: TrialSpec, exc: Any) -> dict:
    """``result.json``'s content for an attempt the recipe refused (a
    :class:`~automl_nas.errors.RecipeError`): returned, not raised, so no executor retries it
    (the same recipe fails the same way), with the refusal's fix in its error."""
    fix = f" (fix: {exc.hint})" if exc.hint else ""
    return {**(read_trial_result(spec.run_dir) or {}), "status": "failed", "error": f"{exc.title}: {exc.message}{fix}"}


def failed_result(spec: TrialSpec, fallback_error: str = "") -> TrialResult:
    """A failed trial, with the last attempt's error and status from the attempt log."""
    attempts = read_attempts(spec)
    last = attempts[-1] if attempts else {}
    return TrialResult(spec=spec, status=last.get("status", "failed"),
                       error=last.get("error") or fallback_error or "unknown error", attempts=max(len(attempts), 1))


def _error_text(exc: BaseException) -> str:
    from automl_nas.errors import AutomlError, one_line

    return f"{exc.title}: {exc.message}" if isinstance(exc, AutomlError) else one_line(exc)


def _append(path: Path, entry: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
