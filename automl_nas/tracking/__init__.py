"""Experiment trackers on the lifecycle hooks: the guard that keeps a failing tracker from
stopping a search, and the per-run activation of the trackers a recipe selects (issue 19)."""

from __future__ import annotations

from automl_nas.tracking._activate import run_trackers
from automl_nas.tracking._guard import TrackerHooks, TrackerWarning

__all__ = ["TrackerHooks", "TrackerWarning", "run_trackers"]
