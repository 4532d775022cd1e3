"""Throwaway trackers for tests of the tracking seam (issue 19): one that records what it is
handed, one that raises where told, and the plugin that contributes them.

Example::

    from automl_nas.testing import run_recipe
    from automl_nas.testing.trackers import RecordingTracker, tracker_plugin

    outcome = run_recipe(tmp_path, text, plugins=[(tracker_plugin(), "test-trackers")],
                         overrides=['run.trackers=["recording"]'])
    assert [c for c, _ in RecordingTracker.calls] == ["start", "log_epoch", ..., "finish"]
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from automl_nas.api.tracker import Tracker
from automl_nas.hookspecs import hookimpl
from automl_nas.registry import Component

__all__ = ["RaisingAtStartConfig", "RaisingConfig", "RaisingTracker", "RecordingTracker", "stopped_then_resumed",
           "toy_tracker_recipe", "tracker_plugin"]


def toy_tracker_recipe(tracker: str, *, epochs: int = 3, steps: int = 2) -> str:
    """A short run of the outside test plugin (``toy`` space, ``toy-blobs`` data) feeding ``tracker``:
    what a tracker plugin's own tests run through :func:`automl_nas.testing.run_recipe`."""
    return (f'name = "toy"\nseed = 0\n[space]\nname = "toy"\n[data]\nname = "toy-blobs"\nbatch_size = 16\n'
            f'[search]\nepochs = {epochs}\nsteps_per_epoch = {steps}\n[search.sampler]\nname = "toy-softmax"\n'
            f'[run]\ntrackers = ["{tracker}"]\n')


class RecordingTracker(Tracker):
    """Keeps every call, class-wide (a run builds its own instance): ``(method, argument)``."""

    name = "recording"
    calls: ClassVar[list[tuple[str, Any]]] = []
    built: ClassVar[int] = 0

    def __init__(self) -> None:
        type(self).built += 1

    def start(self, run, groups) -> None:
        self.calls.append(("start", groups))

    def log_step(self, run, epoch, step, metrics) -> None:
        self.calls.append(("log_step", (epoch, step, metrics)))

    def log_epoch(self, run, view) -> None:
        self.calls.append(("log_epoch", view))

    def finish(self, run, record) -> None:
        self.calls.append(("finish", record))


@attrs.frozen(kw_only=True)
class RaisingConfig:
    where: str = attrs.field(default="log_epoch", validator=attrs.validators.in_(("start", "log_step", "log_epoch", "finish")),
                             metadata={"help": "the method that raises"})


@attrs.frozen(kw_only=True)
class RaisingAtStartConfig(RaisingConfig):
    where: str = attrs.field(default="start", metadata={"help": "the method that raises"})


class RaisingTracker(Tracker):
    """Raises ``ConnectionError`` in ``config.where``, counting every call it receives."""

    name = "raising"
    calls: ClassVar[list[str]] = []

    def __init__(self, config: RaisingConfig | None = None) -> None:
        self.where = (config or RaisingConfig()).where

    def _maybe_raise(self, method: str) -> None:
        self.calls.append(method)
        if method == self.where:
            raise ConnectionError(f"no network ({method})")

    def start(self, run, groups) -> None:
        self._maybe_raise("start")

    def log_step(self, run, epoch, step, metrics) -> None:
        self._maybe_raise("log_step")

    def log_epoch(self, run, view) -> None:
        self._maybe_raise("log_epoch")

    def finish(self, run, record) -> None:
        self._maybe_raise("finish")

    def abort(self) -> None:
        self.calls.append("abort")


class _TrackerPlugin:
    def __init__(self, components: list[Component]) -> None:
        self.components = components

    @hookimpl
    def automl_register_trackers(self) -> list[Component]:
        return list(self.components)


def tracker_plugin(*extra: Component) -> object:
    """A plugin contributing ``recording``, ``raising`` (in ``log_epoch``), ``raising-start``, ``missing`` (its
    implementation cannot be imported) and ``extra``."""
    mod = "automl_nas.testing.trackers"
    return _TrackerPlugin([
        Component(kind="tracker", name="recording", impl=f"{mod}:RecordingTracker", summary="records its calls"),
        Component(kind="tracker", name="raising", impl=f"{mod}:RaisingTracker", config=RaisingConfig, summary="raises"),
        Component(kind="tracker", name="raising-start", impl=f"{mod}:RaisingTracker", config=RaisingAtStartConfig,
                  summary="raises when it starts"),
        Component(kind="tracker", name="missing", impl="automl_nas_no_such_tracker.tracker:Tracker", summary="not installed"),
        *extra,
    ])


def stopped_then_resumed(tmp_path, tracker: str, *, stop_after: int = 1, epochs: int = 4):
    """Run :func:`toy_tracker_recipe` for ``tracker``, stopped (as SIGTERM stops it) after epoch
    ``stop_after``, then ``--resume`` it to the end; returns the run directory. What a tracker's
    test of a resumed search runs."""
    from pathlib import Path

    from automl_nas.errors import Interrupted
    from automl_nas.session import resume_run
    from automl_nas.testing import run_recipe

    class StopAfter:
        @hookimpl
        def automl_epoch_end(self, run, epoch, metrics) -> None:
            if epoch == stop_after:
                run.request_stop("SIGTERM")

    try:
        run_recipe(tmp_path, toy_tracker_recipe(tracker, epochs=epochs), plugins=[(StopAfter(), "stop-after")])
    except Interrupted:
        pass
    (run_dir,) = list((Path(tmp_path) / "runs").iterdir())
    resume_run(run_dir, quiet=True)
    return run_dir
