"""From a recipe file to a finished run: plugin manager, registry, plan, run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from automl_nas.errors import RecipeError, RunError
from automl_nas.records.rundir import RunDir


def open_session(extra_plugins: Iterable[tuple[object, str]] = ()):
    from automl_nas.manager import build_registry, get_plugin_manager

    pm = get_plugin_manager(extra_plugins=extra_plugins)
    return pm, build_registry(pm)


def run_recipe_file(path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = (),
                    run_dir: str | Path | None = None, quiet: bool = False, extra_plugins=()) -> dict:
    """Validate ``path`` (with profile and overrides), then run it; returns ``result.json``'s content."""
    from automl_nas.recipe import plan_recipe

    pm, registry = open_session(extra_plugins)
    plan = plan_recipe(path, registry, profile=profile, overrides=overrides)
    from automl_nas.preflight import preflight

    preflight(plan)  # before the run directory and the first step
    return execute_plan(plan, registry, pm, run_dir=run_dir, quiet=quiet)


def execute_plan(plan, registry, pm, *, run_dir=None, quiet: bool = False, resume: bool = False) -> dict:
    from automl_nas.builtin.progress import ProgressReporter
    from automl_nas.engine.run import execute

    rd = RunDir(run_dir) if resume else RunDir.create(plan.recipe.run.root, plan.recipe.name, run_dir)
    reporter = None
    if not quiet:
        reporter = ProgressReporter()
        pm.register(reporter, name="progress")
    try:
        result = execute(plan, registry, pm, rd, quiet=quiet, resume=resume)
    finally:
        if reporter is not None:
            pm.unregister(reporter)
    result["run_dir"] = str(rd.path)
    return result


def resume_run(run_dir: str | Path, *, quiet: bool = False, extra_plugins=()) -> dict:
    """Continue ``run_dir`` from its checkpoint with the recipe saved in it."""
    from automl_nas.recipe import plan_recipe

    rd = RunDir(run_dir)
    if not rd.recipe_file.exists():
        raise RunError(f"{rd.path} is not a run directory (recipe.toml is missing)", hint="pass the directory `automl run` printed")
    pm, registry = open_session(extra_plugins)
    plan = plan_recipe(rd.recipe_file, registry)
    from automl_nas.preflight import preflight

    preflight(plan)
    return execute_plan(plan, registry, pm, run_dir=rd.path, quiet=quiet, resume=True)


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                seeds.append(int(part))
    except ValueError:
        raise RecipeError(f"--seeds {text!r}: expected a range such as 0-4 or a list such as 0,3,7") from None
    if not seeds:
        raise RecipeError(f"--seeds {text!r}: no seeds given")
    return seeds


def run_trials(path, *, profile=None, overrides=(), seeds=None, executor=None, address=None, quiet=False,
               run_dir=None) -> dict:
    """Several seeds of one recipe as trials (locally or on Ray); writes an aggregate.

    ``run_dir`` is the parent directory (one ``seed-N/`` run directory per trial)."""
    from automl_nas.execution.trials import run_seed_trials

    return run_seed_trials(path, profile=profile, overrides=list(overrides), seeds=parse_seeds(seeds or "0"),
                           executor=executor, address=address, quiet=quiet, run_dir=run_dir)
