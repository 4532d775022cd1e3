"""Which trackers a run feeds: the ones its recipe selects, built and registered for that run only.

Why per run and not per process: a tracker plugin's entry point only *contributes* a
descriptor (``automl_register_trackers``); the object that receives the lifecycle hooks is
built here for one run and unregistered when it ends, exactly like the progress reporter
(:meth:`automl_nas.session.Session.execute`). So an installed but unselected tracker does
nothing, and every seed or study trial, which runs through ``Session.execute`` in its own
worker, gets its own tracker run.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

from automl_nas.tracking._guard import TrackerHooks, warn_tracker

if TYPE_CHECKING:
    from automl_nas.api.space import GroupSpec
    from automl_nas.recipe import Plan
    from automl_nas.registry import Registry

__all__ = ["run_trackers"]


@contextlib.contextmanager
def run_trackers(pm, registry: Registry, plan: Plan) -> Iterator[list[TrackerHooks]]:
    """Register a guarded :class:`TrackerHooks` for each of ``plan.trackers`` while the block runs.

    A tracker that cannot be built (its package is missing) is warned about once and left out.
    """
    hooks: list[TrackerHooks] = []
    groups = _groups(plan, registry) if plan.trackers else ()
    for resolved in plan.trackers:
        comp = resolved.component
        origin = f"plugin {comp.plugin!r}, {comp.dist or 'unknown distribution'}"
        try:
            tracker = resolved.build(registry)
        except Exception as exc:  # noqa: BLE001 - e.g. the tracker's library is not installed
            warn_tracker(comp.name, origin, "being built", exc, plan.source)
            continue
        hook = TrackerHooks(tracker, name=comp.name, origin=origin, source=plan.source, groups=groups)
        pm.register(hook, name=f"tracker-{comp.name}")
        hooks.append(hook)
    try:
        yield hooks
    finally:
        for hook in hooks:
            pm.unregister(hook)


def _groups(plan: Plan, registry: Registry) -> tuple[GroupSpec, ...]:
    """The space's edge and op labels (building a space object is cheap: no supernet)."""
    try:
        return tuple(plan.space.build(registry).groups())
    except Exception:  # noqa: BLE001 - labels are a nicety; trackers fall back to e0/op0
        return ()
