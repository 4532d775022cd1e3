"""A tracker behind a guard: the lifecycle plugin that feeds one :class:`~automl_nas.api.Tracker`
and turns its first failure into one warning, then silence.

Why a guard rather than the engine's plugin-error wrapper: a tracker is an observer whose
failures (no network, missing package, full disk) say nothing about the search, so issue 19
asks that it "warns once and never stops the search"; every other lifecycle plugin keeps the
engine's rule (a raising hook fails the run, naming the plugin).
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from automl_nas.api.tracker import EpochView
from automl_nas.errors import one_line
from automl_nas.hookspecs import hookimpl

if TYPE_CHECKING:
    from automl_nas.api.run import RunContext
    from automl_nas.api.space import GroupSpec
    from automl_nas.api.tracker import Tracker
    from automl_nas.records.schema import ArchSnapshot, EpochRecord, RunResult

__all__ = ["TrackerHooks", "TrackerWarning", "warn_tracker"]

log = logging.getLogger("automl_nas.tracking")


class TrackerWarning(UserWarning):
    """A tracker failed and was switched off for the rest of the run (the search goes on)."""


def warn_tracker(name: str, origin: str, where: str, exc: BaseException, source: str) -> None:
    """One paragraph naming the tracker, its distribution, what failed and the fix."""
    msg = (f"tracker {name!r} ({origin}) failed in {where}: {one_line(exc)}. It is switched off for the rest "
           f"of this run; the search goes on. Fix: install or configure the tracker (`automl plugins` lists it), "
           f"or remove {name!r} from run.trackers in {source} (or drop --tracker {name}).")
    log.warning(msg)
    warnings.warn(msg, TrackerWarning, stacklevel=2)


class TrackerHooks:
    """Registered per run by :func:`automl_nas.tracking.run_trackers`, one per selected tracker."""

    def __init__(self, tracker: Tracker, *, name: str, origin: str, source: str,
                 groups: tuple[GroupSpec, ...] = ()) -> None:
        self.tracker = tracker
        self.name = name
        self.origin = origin  # "plugin 'x', distribution y", for the warning
        self.source = source  # the recipe file, for the warning
        self.groups = groups
        self.failed: str | None = None  # the method that failed; then the tracker is off

    def _call(self, method: str, *args: Any) -> None:
        if self.failed is not None:
            return
        try:
            getattr(self.tracker, method)(*args)
        except Exception as exc:  # noqa: BLE001 - any tracker failure: warn once, go on (issue 19)
            self.failed = method
            warn_tracker(self.name, self.origin, f"{method}()", exc, self.source)
            try:
                self.tracker.abort()
            except Exception:  # noqa: BLE001 - already warned; releasing is best effort
                pass

    @hookimpl
    def automl_run_start(self, run: RunContext) -> None:
        self._call("start", run, self.groups)

    @hookimpl
    def automl_step_end(self, run: RunContext, epoch: int, step: int, metrics: dict[str, Any]) -> None:
        self._call("log_step", run, epoch, step, {k: float(v) for k, v in metrics.items()})

    @hookimpl
    def automl_epoch_end(self, run: RunContext, epoch: int, record: EpochRecord) -> None:
        if self.failed is None:
            view = EpochView(epoch=epoch, record=record, arch=_snapshot(run, epoch), groups=self.groups)
            self._call("log_epoch", run, view)

    @hookimpl
    def automl_run_end(self, run: RunContext, record: RunResult) -> None:
        self._call("finish", run, record)


def _snapshot(run: RunContext, epoch: int) -> ArchSnapshot | None:
    """The epoch's architecture snapshot (the engine appends it before ``automl_epoch_end``)."""
    try:
        found = [s for s in run.run_dir.read_arch_history() if s.epoch == epoch]
    except (OSError, ValueError, KeyError):
        return None
    return found[-1] if found else None
