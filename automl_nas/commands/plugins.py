"""``automl plugins``: installed plugins, their components and options, and load errors."""

from __future__ import annotations

import json

import click

from automl_nas.commands._support import command_session, handle_errors

__all__ = ["plugins"]


@click.command("plugins")
@click.option("--options", "options_of", metavar="NAME", help="Print the option table of the component NAME.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def plugins(options_of, as_json) -> None:
    """List installed plugins: distribution, version, hooks and components; and load errors."""
    from automl_nas.manager import CONTRIBUTION_HOOKS

    session = command_session(show_load_errors=False)
    pm, registry = session.pm, session.registry
    if options_of:
        _print_options(registry, options_of)
        return
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        comps = [f"{c.kind}:{c.name}" for c in registry.all() if c.plugin == name]
        rows.append({"plugin": name, "dist": pm.dist_of(name), "hooks": hooks, "components": comps,
                     "heavy_imports": pm.heavy_imports.get(name, [])})
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
        if row["heavy_imports"]:
            click.echo(f"    note: loading this plugin imports {', '.join(row['heavy_imports'])}, so every automl command "
                       f"waits for it; import it inside the component modules, not in the module the entry point "
                       f"names (CONTRIBUTING)")
    for err in registry.errors:
        click.echo(f"load error: {err}")


def _print_options(registry, name: str) -> None:
    import attrs

    matches = [c for c in registry.all() if c.name == name]
    if not matches:
        from automl_nas.registry import unknown_name_message

        # A usage error of this command, not of a recipe: there is none here.
        raise click.BadParameter(unknown_name_message("component", name, sorted({c.name for c in registry.all()})),
                                 param_hint="--options")
    for comp in matches:
        click.echo(f"{comp.kind} {comp.name} ({comp.plugin}, {comp.dist}): {comp.summary}")
        if comp.config is None:
            click.echo("    (no options)")
            continue
        for field in attrs.fields(comp.config):
            default = field.default
            if default is attrs.NOTHING:  # attrs' sentinel printed as NOTHING
                shown = "(required)"
            else:
                if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                    default = default.factory()
                shown = repr(default)
            click.echo(f"    {field.name} = {shown}    {field.metadata.get('help', '')}")
