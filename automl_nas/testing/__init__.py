"""Public test helpers for plugin authors (and for automl-nas itself).

``run_recipe(tmp_path, toml_text, plugins=[...])`` runs a recipe in-process with
throwaway plugins registered and returns a :class:`RunOutcome`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import attrs


@attrs.define
class RunOutcome:
    result: dict
    metrics: list
    run_dir: Path
    hook_calls: list


def run_recipe(tmp_path: Path, toml_text: str, *, plugins: Iterable[tuple[object, str]] = (), overrides: Iterable[str] = (),
               profile: str | None = None) -> RunOutcome:
    from automl_nas.records.rundir import RunDir
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import execute_plan, open_session

    recipe = Path(tmp_path) / "recipe.toml"
    recipe.write_text(toml_text)
    pm, registry = open_session(plugins)
    calls: list = []
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name), lambda *a: None)
    try:
        plan = plan_recipe(recipe, registry, profile=profile, overrides=[f"run.root={str(Path(tmp_path) / 'runs')!r}", *overrides])
        result = execute_plan(plan, registry, pm, quiet=True)
    finally:
        undo()
    rd = RunDir(result["run_dir"])
    return RunOutcome(result=result, metrics=rd.read_metrics(), run_dir=rd.path, hook_calls=calls)
