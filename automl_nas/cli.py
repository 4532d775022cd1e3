"""The ``automl`` command. The only place where errors become exit codes.

Exit codes: 0 ok, 1 unexpected error, 2 recipe error, 3 plugin error,
4 data error, 5 run failed (numerical fault, unwritable directory),
130 interrupted (checkpoint written; resume with ``--resume``).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from automl_nas.errors import AutomlError


def _report(exc: AutomlError) -> None:
    click.echo(f"automl: {exc.title}: {exc}", err=True)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AutomlError as exc:
            _report(exc)
            sys.exit(exc.exit_code)

    return wrapper


def _manager_and_registry(show_load_errors: bool = True):
    from automl_nas.manager import build_registry, get_plugin_manager

    pm = get_plugin_manager()
    registry = build_registry(pm)
    if show_load_errors:
        for err in registry.errors:
            click.echo(f"automl: warning: {err}", err=True)
    return pm, registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl-nas")
def main() -> None:
    """automl-nas: plugin-based neural architecture search.

    Typical use: `automl run recipes/snas.toml --profile quick` runs a short real
    search; `automl show runs/<run>` summarises it; `automl plugins` lists what is
    installed. Each command has its own --help.
    """


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--profile", "-p", help="Apply [profile.NAME] of the recipe (every shipped recipe has `quick`).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set search.epochs=2 --set data.name=cifar10 (value parsed as TOML).")
@click.option("--run-dir", type=click.Path(file_okay=False), help="Write the run here instead of run.root/<recipe>-<time>.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True),
              help="Continue an interrupted run from its last checkpoint (RECIPE not needed).")
@click.option("--seeds", help="Run several seeds as trials, e.g. 0-4 or 0,3,7.")
@click.option("--executor", type=click.Choice(["local", "ray"]), help="Where trials run (default: the recipe's executor.name).")
@click.option("--address", help="Ray cluster address (auto, ray://host:port); implies --executor ray.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output; the result is still printed.")
@handle_errors
def run(recipe, profile, overrides, run_dir, resume_dir, seeds, executor, address, quiet) -> None:
    """Run the search described by RECIPE and write a run directory.

    \b
    Examples:
      automl run recipes/snas.toml --profile quick
      automl run recipes/gdas.toml --set search.epochs=10 --set run.device=cuda
      automl run --resume runs/gdas-20260101-120000
      automl run recipes/drnas.toml -p quick --seeds 0-2 --executor ray
    """
    from automl_nas.session import resume_run, run_recipe_file, run_trials

    if resume_dir:
        result = resume_run(resume_dir, quiet=quiet)
    elif recipe is None:
        raise click.UsageError("give a RECIPE file (or --resume RUN_DIR)")
    elif seeds or executor == "ray" or address:
        result = run_trials(recipe, profile=profile, overrides=list(overrides), seeds=seeds, executor=executor,
                            address=address, quiet=quiet, run_dir=run_dir)
    else:
        result = run_recipe_file(recipe, profile=profile, overrides=list(overrides), run_dir=run_dir, quiet=quiet)
    click.echo(json.dumps(_summary(result), indent=2))


def _summary(result: dict) -> dict:
    keys = ("status", "genotype", "metrics", "expected", "search_time_s", "run_dir", "aggregate", "trials")
    return {k: result[k] for k in keys if k in result}


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--profile", "-p", help="Validate with [profile.NAME] applied.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Overrides, as for `automl run`.")
@handle_errors
def validate(recipe, profile, overrides) -> None:
    """Check RECIPE (keys, types, plugin names, plugin options) without running it."""
    from automl_nas.recipe import load_raw, plan_recipe

    raw = load_raw(recipe)
    if "blackbox" in raw and "search" not in raw:  # an `automl search` recipe
        from automl_nas.study.blackbox import plan_blackbox_recipe

        raw, cfg, *_ = plan_blackbox_recipe(recipe, profile=profile, overrides=overrides, build=False)
        click.echo(f"{recipe}: ok (black-box: {cfg.proposer.name} on {raw['space']['name']}, evaluator "
                   f"{raw['evaluator']['name']}, {cfg.queries} queries; run it with `automl search`)")
        return
    _, registry = _manager_and_registry()
    plan = plan_recipe(recipe, registry, profile=profile, overrides=overrides)
    click.echo(f"{recipe}: ok ({plan.sampler.component.name} on {plan.space.component.name}, data {plan.recipe.data.name}, "
               f"{plan.recipe.search.epochs} epochs)")


@main.command()
@click.option("--options", "options_of", metavar="NAME", help="Print the option table of the component NAME.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def plugins(options_of, as_json) -> None:
    """List installed plugins: distribution, version, hooks and components; and load errors."""
    from automl_nas.manager import CONTRIBUTION_HOOKS

    pm, registry = _manager_and_registry(show_load_errors=False)
    if options_of:
        _print_options(registry, options_of)
        return
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        comps = [f"{c.kind}:{c.name}" for c in registry.all() if c.plugin == name]
        rows.append({"plugin": name, "dist": pm.dist_of(name), "hooks": hooks, "components": comps})
    if as_json:
        click.echo(json.dumps({"plugins": rows, "errors": [str(e) for e in registry.errors]}, indent=2))
        return
    for row in rows:
        click.echo(f"{row['plugin']}  ({row['dist']})")
        for comp in row["components"]:
            kind, name = comp.split(":", 1)
            summary = registry.get(kind, name).summary
            click.echo(f"    {kind:<13} {name:<18} {summary}")
        other = [h for h in row["hooks"] if h not in CONTRIBUTION_HOOKS]
        if other:
            click.echo(f"    hooks: {', '.join(other)}")
    for err in registry.errors:
        click.echo(f"load error: {err}")


def _print_options(registry, name: str) -> None:
    import attrs

    from automl_nas.errors import RecipeError

    matches = [c for c in registry.all() if c.name == name]
    if not matches:
        from automl_nas.registry import unknown_name_message

        raise RecipeError(unknown_name_message("component", name, sorted({c.name for c in registry.all()})))
    for comp in matches:
        click.echo(f"{comp.kind} {comp.name} ({comp.plugin}, {comp.dist}): {comp.summary}")
        if comp.config is None:
            click.echo("    (no options)")
            continue
        for field in attrs.fields(comp.config):
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            click.echo(f"    {field.name} = {default!r}    {field.metadata.get('help', '')}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--epochs", "show_epochs", is_flag=True, help="Print every epoch record.")
@handle_errors
def show(run_dir, show_epochs) -> None:
    """Summarise a finished or interrupted run directory."""
    from automl_nas.records.show import render

    click.echo(render(Path(run_dir), all_epochs=show_epochs))


def _add_optional_commands() -> None:
    """Commands that live in their own modules (imported lazily by click on use)."""
    import importlib

    for module, names in (
        ("automl_nas.study.cli", ("study", "blackbox")),
        ("automl_nas.commands.evaluate", ("eval_cmd",)),
        ("automl_nas.commands.export", ("export",)),
        ("automl_nas.commands.profile_ops", ("profile_ops",)),
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency inside the module: surface it
                raise
            continue
        for name in names:
            cmd = getattr(mod, name, None)
            if cmd is not None:
                main.add_command(cmd)


_add_optional_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
