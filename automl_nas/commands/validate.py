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
    from automl_nas.recipe import plan_recipe

    registry = command_session().registry
    plan = plan_recipe(recipe, registry, profile=profile, overrides=overrides)
    preflight(plan)  # the evaluator can answer and the data is there (issue 13)
    click.echo(f"{recipe}: ok ({plan.sampler.component.name} on {plan.space.component.name}, data {plan.recipe.data.name}, "
               f"{plan.recipe.search.epochs} epochs)")
