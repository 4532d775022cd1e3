"""``automl validate``: check a recipe without running it (no torch imported; < 2 s)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from automl_nas.commands._support import command_session, handle_errors

if TYPE_CHECKING:
    from automl_nas.study.config import StudyConfig

__all__ = ["validate"]


@click.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--profile", "-p", help="Validate with [profile.NAME] applied.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Overrides, as for `automl run`.")
@click.option("--build", is_flag=True,
              help="Also build the components and load the data as the run does before its first step (imports "
                   "torch; as long as a run's start): what only they can refuse is found too.")
@handle_errors
def validate(recipe, profile, overrides, build) -> None:
    """Check RECIPE (keys, types, plugin names, plugin options, installed benchmark table, data) without running it."""
    from automl_nas.preflight import preflight
    from automl_nas.recipe import load_raw, plan_recipe

    session = command_session()
    built = "; built as the run builds it" if build else ""
    raw = load_raw(recipe)
    if "genotype" in raw and "search" not in raw and "blackbox" not in raw:  # `automl export`'s retrain.toml
        from automl_nas.errors import RecipeError

        raise RecipeError(f"{recipe} is an evaluation recipe (a genotype to train or score), not a search recipe",
                          hint=f"check it with `automl eval {recipe} --check`, and run it with `automl eval {recipe}`")
    if "blackbox" in raw and "search" not in raw:  # an `automl search` recipe
        from automl_nas.study.blackbox import checked_data, plan_blackbox_recipe

        bb = plan_blackbox_recipe(recipe, profile=profile, overrides=overrides, build=build, session=session)
        if build:
            checked_data(bb, session.registry, str(recipe))
        _check_root(bb.run.root, None)
        _warn_if_cpus_missing(bb.executor, parallel=bb.config.parallel)
        click.echo(f"{recipe}: ok (black-box: {bb.config.proposer.name} on {bb.raw['space']['name']}, evaluator "
                   f"{bb.raw['evaluator']['name']}, {bb.config.queries} queries{built}; run it with `automl search`)")
        return
    plan = plan_recipe(recipe, session.registry, profile=profile, overrides=overrides)
    for resolved in (plan.space, plan.dataset, plan.sampler, *plan.objectives, plan.evaluator, *plan.trackers):
        if resolved is not None:  # a module missing from the plugin's install fails the run's first build
            resolved.component.check_findable()
    preflight(plan)  # the evaluator can answer and the data is there (issue 13)
    study, study_cfg = "", None
    if plan.recipe.study is not None:  # an `automl study` recipe: its table, metric paths and parameter ranges
        from automl_nas.study.driver import check_study

        cfg = study_cfg = check_study(session, plan, recipe, profile, list(overrides))
        if build and plan.evaluator is not None:
            from automl_nas.study.driver import check_reported_metrics

            check_reported_metrics(cfg, plan.evaluator.build(session.registry), source=str(recipe))
        from automl_nas.study.config import idle_pruner

        idle = idle_pruner(cfg, plan.recipe.search.epochs)
        if idle:
            click.echo(f"automl: warning: {idle}", err=True)
        study = (f"; study {cfg.name!r}: {len(cfg.params)} parameter(s) by "
                 f"{', '.join(m for m, _ in cfg.objectives)}; run it with `automl study`")
    _check_root(plan.recipe.run.root, study_cfg)
    _warn_if_cpus_missing(plan.recipe.executor, parallel=study_cfg.parallelism if study_cfg is not None else 1)
    missing = _warn_if_device_missing(plan.recipe.run.device)
    if build:
        from automl_nas.engine.run import build_search

        build_search(plan, session.registry, device="cpu" if missing else None)
        if missing:  # what only that device would refuse (its memory, bf16, CUDA graphs) is not checked
            built = f"; built on the CPU, as this machine has no {plan.recipe.run.device}"
    from automl_nas.recipe import protocol_note

    expected = plan.recipe.expected
    protocol = f"; {protocol_note(expected.changed)}" if expected is not None and expected.changed else ""
    click.echo(f"{recipe}: ok ({plan.sampler.component.name} on {plan.space.component.name}, data {plan.recipe.data.name}, "
               f"{plan.recipe.search.epochs} epochs{built}{study}{protocol})")


def _check_root(run_root: str, study: "StudyConfig | None") -> None:
    """The parent the run (or study) would create its directory in can be created and written;
    without ``--run-dir`` that is where ``automl run`` writes first."""
    from pathlib import Path

    from automl_nas.records.rundir import creatable_dir

    if study is not None:
        key, root = ("study.root", Path(study.root)) if study.root else ("run.root", Path(run_root) / "studies")
        creatable_dir(root, what="study root", key=key)
    else:
        creatable_dir(Path(run_root), what="run root", key="run.root")


def _warn_if_cpus_missing(executor, *, parallel: int) -> None:
    """Ray work asking for more CPUs per task than this machine has would wait for good on the
    private Ray the command starts here; a warning, as the recipe may be meant for a cluster
    (``RAY_ADDRESS`` set here: the command checks that cluster's nodes when it joins)."""
    import os

    from automl_nas.execution.cluster import resolve_address

    if not executor.uses_ray(parallel) or resolve_address(executor.address or None):
        return
    here = os.cpu_count() or 1
    if executor.cpus > here:
        click.echo(f"automl: warning: executor.cpus = {executor.cpus:g} but this machine has {here} CPUs: work on Ray "
                   f"(seed batches, studies, black-box searches) refuses it here, as no trial could start on the "
                   f"private Ray it starts; a cluster's nodes may have them (--address or RAY_ADDRESS)", err=True)


def _warn_if_device_missing(device: str) -> bool:
    """A device this machine lacks is a warning, not an error: the recipe may be meant for another
    machine (a cluster's GPU node). torch is imported only for a device named outright. Returns
    whether it is missing."""
    if device in ("auto", "cpu"):
        return False
    from automl_nas.devices import resolve_device
    from automl_nas.errors import RunError

    try:
        resolve_device(device)
    except RunError as exc:
        click.echo(f"automl: warning: {exc.message}: `automl run` on this machine would refuse it ({exc.hint})",
                   err=True)
        return True
    return False
