"""Trial records: what a worker runs (:class:`TrialSpec`) and what it sends back
(:class:`TrialResult`).

A spec is plain data (paths, strings, numbers): it pickles to a Ray worker,
which builds its own plugin manager from entry points (style guide G19).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import attrs

__all__ = ["Placement", "TrialResult", "TrialSpec", "attempt_log_of", "read_trial_result"]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen(kw_only=True)
class TrialSpec:
    """One search run: a recipe file plus profile, ``--set`` overrides and seed.

    Attributes:
        recipe_path: absolute path of the recipe file.
        profile: ``[profile.NAME]`` to apply, or ``None``.
        overrides: ``KEY=VALUE`` strings, applied after the profile (the seed is one of them).
        seed: the trial's seed (already part of ``overrides``; kept for tables).
        run_dir: absolute path of the trial's own run directory.
        workdir: the driver's working directory, so relative paths in the recipe
            (tables, data) mean the same on a worker; empty on a Ray cluster, where the
            worker starts in the shipped copy of it (the recipe's text travels with the trial).
        name: label in tables and logs (``seed-3``, ``trial-12``).
        ranks: processes of one data-parallel search (``[executor] ranks``; 1: this process).
    """

    recipe_path: str = attrs.field(converter=str)
    profile: str | None = None
    overrides: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    seed: int = 0
    run_dir: str = attrs.field(converter=str)
    workdir: str = attrs.field(factory=os.getcwd, converter=str)
    name: str = ""
    ranks: int = 1


@attrs.frozen(kw_only=True)
class TrialResult:
    """How a trial ended. ``status`` is ``finished``, ``failed`` or ``pruned``;
    ``result`` is the trial's ``result.json`` (empty when none was written)."""

    spec: TrialSpec
    status: str
    result: dict = attrs.field(factory=dict)
    error: str | None = None
    attempts: int = 1

    def record(self) -> dict[str, Any]:
        """The plain dict handed to ``automl_trial_end`` and written to tables."""
        out = dict(self.result)
        out.update(status=self.status, run_dir=self.spec.run_dir, seed=self.spec.seed, trial=self.spec.name,
                   attempts=self.attempts)
        if self.error:
            out["error"] = self.error
        return out


@attrs.frozen(kw_only=True)
class Placement:
    """Where an attempt of a trial ran; written to the run's ``env.json`` as ``executor``.

    Attributes:
        name: the executor, ``local`` or ``ray``.
        host: the machine's host name.
        address: the Ray cluster (GCS) address; empty locally.
        node_id: the Ray node the trial ran on; empty locally.
        node_ip: that node's IP address; empty locally.
        resources: what the executor reserved for the trial, e.g. ``{"CPU": 1.0, "GPU": 0.25}``.
        gpu_ids: the GPUs Ray assigned (what ``CUDA_VISIBLE_DEVICES`` shows the trial).
    """

    name: str
    host: str
    address: str = ""
    node_id: str = ""
    node_ip: str = ""
    resources: dict[str, float] = attrs.field(factory=dict)
    gpu_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def record(self) -> dict[str, Any]:
        """The plain dict stored in ``env.json``."""
        return {**attrs.asdict(self), "gpu_ids": list(self.gpu_ids)}


def attempt_log_of(run_dir: str | Path) -> Path:
    """A trial's attempt log: one JSON line per attempt start and end, next to its run directory
    (``<batch or study>/attempts/<trial>.jsonl``; survives retries)."""
    run_dir = Path(run_dir)
    return run_dir.parent / "attempts" / f"{run_dir.name}.jsonl"


def read_trial_result(run_dir: str | Path) -> dict | None:
    """The trial's ``result.json`` as written (``None`` when missing or unreadable: a trial cut
    short, or one whose records never came back)."""
    try:
        return json.loads((Path(run_dir) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
