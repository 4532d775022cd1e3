"""The one :class:`Session` every command and executor uses: plugin manager, registry and
load errors, built fresh from entry points; and the single-run entry points on top of it
(recipe file -> plan -> run directory -> result)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from automl_nas.errors import RunError
from automl_nas.records.rundir import RunDir

if TYPE_CHECKING:
    import pluggy

    from automl_nas.manager import PluginLoadError
    from automl_nas.recipe import Plan
    from automl_nas.registry import Registry

__all__ = ["Session", "open_session", "resume_run", "run_recipe_file"]


@attrs.frozen(kw_only=True)
class Session:
    """The installed plugins of this process: a fresh plugin manager (no globals) and the
    registry of their components. Build one with :func:`open_session`.

    Example:
        >>> from automl_nas.session import open_session
        >>> session = open_session()  # doctest: +SKIP
        >>> session.registry.names("sampler")  # doctest: +SKIP
        ['darts', 'drnas', 'gdas', 'snas', 'uniform']
    """

    pm: pluggy.PluginManager
    registry: Registry

    @property
    def load_errors(self) -> list[PluginLoadError]:
        """Plugins that failed to load or register (reported, never fatal unless strict)."""
        return list(self.registry.errors)

    def plan(self, path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = (),
             resuming: bool = False) -> Plan:
        """Read, override, structure and resolve a recipe file (no torch imported). ``resuming``:
        the recipe of a run being resumed, which checks added after it started must not strand."""
        from automl_nas.recipe import plan_recipe

        if isinstance(overrides, str):  # iterated, it was one override per character ("--set 's'")
            raise TypeError(f"overrides must be a list of 'KEY=VALUE' strings, not one string: "
                            f"overrides=[{overrides!r}]")
        return plan_recipe(path, self.registry, profile=profile, overrides=overrides, resuming=resuming)

    def execute(self, plan: Plan, *, run_dir: str | Path | None = None, quiet: bool = False,
                resume: bool = False) -> dict[str, Any]:
        """Run (or resume into ``run_dir``) the plan; returns ``result.json``'s content. The
        evaluator and the data are checked first (:func:`~automl_nas.preflight.preflight`), before
        the run directory exists: a missing table is refused, not found after the whole search."""
        from automl_nas.builtin.progress import ProgressReporter
        from automl_nas.engine.run import execute
        from automl_nas.preflight import preflight
        from automl_nas.tracking import run_trackers

        preflight(plan)

        if not resume:
            from automl_nas.records.job_copy import refuse_job_copy

            refuse_job_copy(run_dir or plan.recipe.run.root, key="--run-dir or run.root")
        rd = RunDir(run_dir) if resume else RunDir.new(plan.recipe.run.root, plan.recipe.name, run_dir)
        reporter = None
        if not quiet:
            reporter = ProgressReporter()
            self.pm.register(reporter, name="progress")
        try:
            # The recipe's run.trackers, registered for this run only (automl_nas.tracking says why).
            with run_trackers(self.pm, self.registry, plan):
                result = execute(plan, self.registry, self.pm, rd, quiet=quiet, resume=resume)
        finally:
            if reporter is not None:
                self.pm.unregister(reporter)
        return result.to_json()


def open_session(extra_plugins: Iterable[tuple[object, str]] = ()) -> Session:
    """A :class:`Session` of every installed plugin plus ``extra_plugins`` (``(plugin, name)``
    pairs registered in this process only, e.g. throwaway plugins in tests)."""
    from automl_nas.manager import build_registry, get_plugin_manager

    pm = get_plugin_manager(extra_plugins=extra_plugins)
    return Session(pm=pm, registry=build_registry(pm))


def run_recipe_file(path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = (),
                    run_dir: str | Path | None = None, quiet: bool = False, extra_plugins=(),
                    session: Session | None = None) -> dict[str, Any]:
    """Validate ``path`` (with profile and overrides), then run it; returns ``result.json``'s content."""
    session = session or open_session(extra_plugins)
    plan = session.plan(path, profile=profile, overrides=overrides)
    return session.execute(plan, run_dir=run_dir, quiet=quiet)  # checks the evaluator and data first


def resume_run(run_dir: str | Path, *, quiet: bool = False, extra_plugins=(), session: Session | None = None) -> dict[str, Any]:
    """Continue ``run_dir`` from its checkpoint with the recipe saved in it (under ``torchrun``,
    rank R > 0 continues its own ``run_dir-rankR``)."""
    from automl_nas.records.rundir import rank_path, recorded_world_size, resume_command

    run_dir = Path(run_dir).resolve()  # result.json's run_dir stays absolute, as the run first wrote it
    ran, now = recorded_world_size(run_dir), int(os.environ.get("WORLD_SIZE", "1"))
    first = RunDir(run_dir)
    if ran != now and first.recipe_file.is_file() and getattr(first.read_result(), "status", "") != "finished":
        # one rank would continue alone (and the others stay stopped), or a rank finds no records
        raise RunError(f"{run_dir} was run by {ran} process(es); this resume has {now}",
                       hint=f"resume it as it ran: `{resume_command(run_dir, ran)}`")
    rd = RunDir(rank_path(run_dir))
    if not rd.recipe_file.exists():
        if any(rd.path.glob("seed-*/recipe.toml")):  # a seed batch that lost its own record
            raise RunError(f"{rd.path} holds seed-N trials but no batch.json, the record `automl run --resume` "
                           f"finishes a seed batch from", hint=f"restore batch.json from a copy, or resume each trial on "
                                                              f"its own: `automl run --resume {rd.path}/seed-N`")
        if rd.metrics_file.exists() or rd.checkpoint_file.exists():  # a run whose saved recipe is gone
            raise RunError(f"{rd.recipe_file} is missing: {rd.path} holds a run's records, but not the recipe it "
                           f"resumes with", hint="restore recipe.toml from a copy (the run saved its recipe there); "
                                                 "without it the run cannot continue: start a new run")
        raise RunError(f"{rd.path} is not a run directory (recipe.toml is missing)", hint="pass the directory `automl run` printed")
    from automl_nas.records.layout import is_blackbox_search

    if is_blackbox_search(rd.path):  # its recipe has no [search]: the run's recipe check would say only that
        raise RunError(f"{rd.path} is a black-box search directory (automl search), not a run of automl run",
                       hint=f"continue it with `automl search --resume {rd.path}`")
    session = session or open_session(extra_plugins)
    plan = session.plan(rd.recipe_file, resuming=True)
    previous = rd.read_result()
    if previous is not None and previous.status == "finished":
        if not quiet:
            import click

            click.echo(f"{rd.path} is a finished run; nothing to resume (see `automl show {rd.path}`)", err=True)
        return previous.to_json()
    return session.execute(plan, run_dir=rd.path, quiet=quiet, resume=True)
