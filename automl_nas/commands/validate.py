"""``automl validate``: check a recipe without running it (no torch imported; < 2 s)."""

from __future__ import annotations

import click

from automl_nas.commands._support import command_session, handle_errors

__all__ = ["validate"]


@click.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--profile", "-p", help="Validate with [profile.NAME] applied.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Overrides, as for `automl run`.")
@handle_errors
def validate(recipe, profile, overrides) -> None:
    """Check RECIPE (keys, types, plugin names, plugin options, installed benchmark table, data) without running it."""
    from automl_nas.preflight import preflight
    from automl_nas.recipe import load_raw, plan_recipe

    session = command_session()
    if "blackbox" in load_raw(recipe) and "search" not in load_raw(recipe):  # an `automl search` recipe
        from automl_nas.study.blackbox import plan_blackbox_recipe

        bb = plan_blackbox_recipe(recipe, profile=profile, overrides=overrides, build=False, session=session)
        click.echo(f"{recipe}: ok (black-box: {bb.config.proposer.name} on {bb.raw['space']['name']}, evaluator "
                   f"{bb.raw['evaluator']['name']}, {bb.config.queries} queries; run it with `automl search`)")
        return
    plan = plan_recipe(recipe, session.registry, profile=profile, overrides=overrides)
    for resolved in (plan.space, plan.dataset, plan.sampler, *plan.objectives, plan.evaluator, *plan.trackers):
        if resolved is not None:  # a module missing from the plugin's install fails the run's first build
            resolved.component.check_findable()
    preflight(plan)  # the evaluator can answer and the data is there (issue 13)
    study = ""
    if plan.recipe.study is not None:  # an `automl study` recipe: its table, metric paths and parameter ranges
        from automl_nas.study.driver import check_study

        cfg = check_study(session, plan, recipe, profile, list(overrides))
        study = (f"; study {cfg.name!r}: {len(cfg.params)} parameter(s) by "
                 f"{', '.join(m for m, _ in cfg.objectives)}; run it with `automl study`")
    _warn_if_device_missing(plan.recipe.run.device)
    click.echo(f"{recipe}: ok ({plan.sampler.component.name} on {plan.space.component.name}, data {plan.recipe.data.name}, "
               f"{plan.recipe.search.epochs} epochs{study})")


def _warn_if_device_missing(device: str) -> None:
    """A device this machine lacks is a warning, not an error: the recipe may be meant for another
    machine (a cluster's GPU node). torch is imported only for a device named outright."""
    if device in ("auto", "cpu"):
        return
    from automl_nas.devices import resolve_device
    from automl_nas.errors import RunError

    try:
        resolve_device(device)
    except RunError as exc:
        click.echo(f"automl: warning: {exc.message}: `automl run` on this machine would refuse it ({exc.hint})",
                   err=True)
