"""``automl profile-ops``: measure the latency of every candidate op and save a lookup table.

Imported whenever the ``automl`` command starts, so torch is imported only inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from automl_nas.commands._support import handle_errors, nonempty_path
from automl_nas.errors import PluginError, RecipeError, RunError

__all__ = ["profile_ops"]


@click.command("profile-ops")
@click.argument("space_name", metavar="[SPACE]", required=False)
@click.option("--set", "overrides", multiple=True, metavar="space.KEY=VALUE",
              help="A space option, e.g. --set space.channels=16 (value parsed as TOML); with --recipe any recipe key.")
@click.option("--recipe", type=click.Path(dir_okay=False),
              help="Take the space (and, without --input, the data's image shape) from this recipe.")
@click.option("--profile", "-p", help="Apply [profile.NAME] of --recipe.")
@click.option("--input", "input_shape", metavar="CxHxW",
              help="Image shape the network sees, e.g. 3x32x32 (default: the recipe's data set, else 3x32x32).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(min=1), help="Images per timed call.")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(min=1), help="Timed calls per op (median kept).")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(min=0), help="Untimed calls before timing.")
@click.option("--backward/--no-backward", default=False, show_default=True, help="Time forward + backward instead of forward only.")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads (default: torch's choice).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), callback=nonempty_path, help="Where to write the JSON table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@handle_errors
def profile_ops(space_name, overrides, recipe, profile, input_shape, device, batch, repeats, warmup, backward,
                threads, out, quiet) -> None:
    """Time every candidate op of SPACE at its place in the search supernet and write a latency table.

    The table (JSON, format in automl_nas/costs.py) holds, per architecture group, the
    (cells, edges, ops) latencies in ms, the space's options and fingerprint, the input
    shape, device, CPU/GPU model, torch version, threads and batch. Objectives read it with
    `costs = "latency"` and `latency_table = "FILE.json"`; a table of another space
    configuration is refused when the run starts.

    \b
    Examples:
      automl profile-ops nb201 --set space.channels=16 --set space.cells_per_stage=5 --out nb201-cpu.json
      automl profile-ops --recipe recipes/snas.toml --profile quick --threads 1 --out nb201-quick.json
      automl profile-ops darts --device cuda --backward --out darts-gpu.json
    """
    import torch

    from automl_nas.devices import set_threads
    from automl_nas.profiling import TimingSettings, profile_space

    _refuse_to_overwrite(Path(out))  # before minutes of timing
    space, inputs, space_label, component = _space_and_inputs(space_name, recipe, profile, overrides, input_shape)
    device = _check_device(device)
    _check_profilable(space)
    set_threads(threads, key="--threads")
    settings = TimingSettings(device=device, batch=batch, repeats=repeats, warmup=warmup, backward=backward)
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    n = torch.get_num_threads()
    log(f"profiling {space_label} on {device} with {n} torch thread{'' if n == 1 else 's'}, images "
        f"{inputs.channels}x{inputs.height}x{inputs.width}, batch {batch}, {warmup} warm-up + {repeats} timed calls"
        f"{', forward + backward' if backward else ', forward only'}")

    def progress(i: int, n: int, pos: Any, ms: float) -> None:
        shape = "x".join(str(s) for s in pos.input_shape)
        log(f"  [{i:>3}/{n}] {pos.group:<8} {pos.op:<16} in {shape:<12} {ms:10.4f} ms")

    try:
        table = profile_space(space, inputs, settings, path=str(out), progress=progress)
    except PluginError as exc:  # name the plugin that contributed the space
        raise PluginError(f"{exc.message} (plugin {component.plugin!r}, {component.dist})", plugin=component.plugin,
                          dist=component.dist, hint=exc.hint) from None
    _write(table, Path(out))
    click.echo(_summary_text(table))
    click.echo(f"wrote {out}")


def _space_and_inputs(space_name: str | None, recipe: str | None, profile: str | None, overrides: tuple[str, ...],
                      input_shape: str | None):
    from automl_nas.api.space import InputSpec
    from automl_nas.commands._support import command_session

    registry = command_session().registry
    if recipe:
        comp_name, options, data_ref, source = _from_recipe(recipe, profile, overrides)
        if space_name and space_name != comp_name:
            raise RecipeError(f"{recipe}: space.name is {comp_name!r} but SPACE is {space_name!r}",
                              hint="leave SPACE out with --recipe, or give the recipe's space")
    elif space_name:
        if profile:
            raise click.UsageError("--profile applies a profile of --recipe; without a recipe, set space options with "
                                   "--set space.KEY=VALUE")
        comp_name, options, data_ref, source = space_name, _space_options(overrides), None, "profile-ops"
    else:
        raise click.UsageError("give a SPACE (e.g. nb201, darts) or --recipe RECIPE")
    space = _build("search_space", comp_name, options, registry, source=source, key="space")
    if input_shape:
        c, h, w = _parse_shape(input_shape)
    elif data_ref is not None:
        c, h, w = _build("dataset", data_ref[0], data_ref[1], registry, source=source, key="data").load().shape
    else:
        c, h, w = 3, 32, 32
    label = f"{comp_name} {options}" if options else comp_name
    return space, InputSpec(channels=c, height=h, width=w), label, registry.get("search_space", comp_name)


def _from_recipe(recipe: str, profile: str | None, overrides: tuple[str, ...]):
    from automl_nas.recipe import load_recipe

    # Only the space and data tables are resolved: the recipe's objectives may name the very
    # table this command is about to write.
    loaded = load_recipe(recipe, profile=profile, overrides=overrides)
    return loaded.space.name, dict(loaded.space.options), (loaded.data.name, dict(loaded.data.options)), recipe


def _space_options(overrides: tuple[str, ...]) -> dict:
    from automl_nas.recipe.overrides import parse_assignment

    options = {}
    for item in overrides:
        key, value = parse_assignment(item)
        head, _, option = key.partition(".")
        if head != "space" or not option or "." in option:
            raise RecipeError(f"--set {item!r}: without --recipe only space options can be set, as space.KEY=VALUE",
                              hint=f"write --set space.{key.split('.')[-1]}=..., or pass --recipe to set other keys")
        options[option] = value
    return options


def _build(kind: str, name: str, options: dict, registry, *, source: str, key: str):
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.resolve import resolve_ref

    return resolve_ref(registry, kind, ComponentRef(name=name, options=options), key=key, source=source).build(registry)


def _parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise RecipeError(f"--input {text!r}: expected CxHxW with positive integers, e.g. 3x32x32")
    c, h, w = (int(p) for p in parts)
    return c, h, w


def _check_device(device: str) -> str:
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise RecipeError(f"--device {device!r} is not a torch device", hint="use cpu, cuda or cuda:N") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise RunError(f"--device {device!r} but no CUDA device is available", hint="use --device cpu")
    return device


def _refuse_to_overwrite(out: Path) -> None:
    """--out may replace a latency table and write anywhere else, except into the records of a
    run, a seed batch or a study: it replaced a finished run's result.json and its checkpoint."""
    from automl_nas.costs import read_latency_table
    from automl_nas.records.layout import enclosing_records

    place = enclosing_records(out.parent)
    if place is not None:
        raise RunError(f"--out {out} lies inside the records of {place}, which are never written by other "
                       f"commands; nothing was written", hint="pass a path outside run, batch and study directories")
    if out.exists():
        try:
            read_latency_table(out)
        except ValueError:
            raise RunError(f"--out {out} exists and is not a latency table; it is left as it is",
                           hint="pass a new file name, or the path of a latency table to replace") from None
    _check_writable(out.parent)


def _check_profilable(space) -> None:
    """A space that does not list its ops at their positions (optional, CONTRIBUTING) cannot be
    timed: the user's request, refused before the progress line, not the plugin's fault."""
    from automl_nas.api.space import SearchSpace

    if type(space).op_modules is SearchSpace.op_modules:
        raise RecipeError(f"search space {space.name!r} cannot be profiled: its plugin does not list its ops at their "
                          f"positions (SearchSpace.op_modules), so there is nothing to time",
                          hint="profile a space that does (nb201, darts), or make its table as its plugin documents (the "
                               "GNN space's: README, \"Graph neural architecture search\")")


def _check_writable(folder: Path) -> None:
    """The table's folder takes a file, tried before the timing (its end wrote nothing after minutes)."""
    import tempfile

    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:  # created at the end, with the table
        existing = existing.parent
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".profile-ops-"):
            pass
    except OSError as exc:
        raise RunError(f"--out: cannot write into {folder} ({exc.strerror or exc}); nothing was timed",
                       hint="choose a writable path for --out") from None


def _write(table, out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.save(out)
    except OSError as exc:
        raise RunError(f"--out {out}: cannot write the latency table: {exc.strerror}",
                       hint="choose a writable path for --out") from None


def _summary_text(table) -> str:
    """Per op: mean, min and max latency over its positions, one block per group."""
    lines = []
    for group, ops in table.summary.items():
        shape = table.groups[group].shape
        lines.append(f"{group} (cells x edges x ops = {' x '.join(map(str, shape))}), ms per batch of {table.measured['batch']}:")
        lines.append(f"  {'op':<16} {'mean':>10} {'min':>10} {'max':>10}")
        for op, s in ops.items():
            lines.append(f"  {op:<16} {s['mean_ms']:>10.4f} {s['min_ms']:>10.4f} {s['max_ms']:>10.4f}")
    return "\n".join(lines)
