"""What the figures draw, read once from a run directory through the typed readers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from automl_nas.records.rundir import RunDir

if TYPE_CHECKING:
    from automl_nas.api.space import GroupSpec
    from automl_nas.records.schema import ArchSnapshot, EpochRecord, RunResult

__all__ = ["RunSeries", "load_series", "space_groups"]


@attrs.frozen(kw_only=True)
class RunSeries:
    """One run's epoch records, architecture history, result and the space's labels."""

    name: str
    path: Path
    epochs: tuple[EpochRecord, ...]
    history: tuple[ArchSnapshot, ...]
    result: RunResult | None = None
    groups: tuple[GroupSpec, ...] = ()

    @property
    def group_names(self) -> list[str]:
        return list(self.history[-1].probs) if self.history else []


def space_groups(rd: RunDir) -> tuple[GroupSpec, ...]:
    """Edge and op labels from the run's saved recipe (its space plugin builds the groups);
    empty when the recipe or the plugin is not available (the figures then say e0/op0)."""
    from automl_nas.session import open_session

    try:
        session = open_session()
        plan = session.plan(rd.recipe_file)
        return tuple(plan.space.build(session.registry).groups())
    except Exception:  # noqa: BLE001 - labels are a nicety, never a reason to refuse a plot
        return ()


def load_series(name: str, rd: RunDir, groups: tuple[GroupSpec, ...] = ()) -> RunSeries:
    try:
        result = rd.read_result()
    except Exception:  # noqa: BLE001 - a damaged result.json still leaves the epochs to draw
        result = None
    return RunSeries(name=name, path=rd.path, epochs=tuple(rd.read_epochs()), history=tuple(rd.read_arch_history()),
                     result=result, groups=groups)
