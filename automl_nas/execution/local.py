"""The in-process executor: trials one after another, with the recipe's retries."""

from __future__ import annotations

from typing import Callable, Iterable

from automl_nas.errors import Interrupted
from automl_nas.execution.trial import TrialResult, TrialSpec, read_attempts, run_trial

__all__ = ["run_local"]


def run_local(specs: Iterable[TrialSpec], *, retries: int = 0,
              on_result: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """Run each spec up to ``retries + 1`` times; a trial that still fails is recorded, not raised."""
    results = []
    for spec in specs:
        outcome = _run_with_retries(spec, retries)
        results.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return results


def _run_with_retries(spec: TrialSpec, retries: int) -> TrialResult:
    for _ in range(retries + 1):
        try:
            result = run_trial(spec)
        except Interrupted:
            raise  # Ctrl-C stops the whole batch, as in a single run
        except Exception:  # noqa: BLE001 - recorded in the attempt log and retried
            continue
        return TrialResult(spec=spec, status=result.get("status", "finished"), result=result,
                           attempts=len(read_attempts(spec)))
    return failed_result(spec)


def failed_result(spec: TrialSpec, fallback_error: str = "") -> TrialResult:
    """A failed trial, with the last attempt's error and status from the attempt log."""
    attempts = read_attempts(spec)
    last = attempts[-1] if attempts else {}
    return TrialResult(spec=spec, status=last.get("status", "failed"), error=last.get("error") or fallback_error or "unknown error",
                       attempts=max(len(attempts), 1))
