"""``automl bench``: the benchmark-table store (list, import, fetch).

Tables come from plugins (``automl_register_benchmarks``); the store lives in
``$AUTOML_NAS_HOME/benchmarks`` (default ``~/.cache/automl-nas/benchmarks``).
Imports nothing heavy until a table is imported or fetched.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from automl_nas.commands._support import command_session, handle_errors

__all__ = ["bench"]


def _registry() -> Any:
    return command_session().registry


def _build(name: str) -> Any:
    registry = _registry()
    registry.get("benchmark", name, where="automl bench")  # did-you-mean on a typo
    return registry.create("benchmark", name)


def _plugin_code(name: str, action: str):
    """A table's own bug (not its DataError) as a plugin error naming the table's plugin."""
    from automl_nas.errors import plugin_call

    component = _registry().get("benchmark", name)
    return plugin_call(subject=f"benchmark table {name!r}", plugin=component.plugin, dist=component.dist,
                       action=f"failed while {action}",
                       hint="report it to the plugin's authors with AUTOML_NAS_DEBUG=1's traceback; the installed "
                            "table, if any, is unchanged")


@contextlib.contextmanager
def _stopped(name: str, doing: str, store: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM (``timeout``, a job's end) stops an import or fetch of table ``name`` as an
    interruption that says which table is installed now: SIGTERM killed it with no word, and left
    its half-written copy in the store."""
    from automl_nas.errors import Interrupted
    from automl_nas.interrupts import sigterm_as_ctrl_c

    try:
        with sigterm_as_ctrl_c():
            yield
    except KeyboardInterrupt:
        if name not in store.installed:
            raise Interrupted(f"{doing} of benchmark table {name!r} stopped; the table installed before, if any, "
                              f"is kept as it was", hint="run the same command again") from None
        previous = store.previous(name) / "table.parquet"
        kept = f"; the one it replaced is kept in {previous.parent}" if previous.is_file() else ""
        raise Interrupted(f"{doing} of benchmark table {name!r} stopped after the new table was installed{kept}",
                          hint=f"`automl bench list` shows it; `automl bench import {name} {previous}` puts the old "
                               f"one back" if kept else "`automl bench list` shows it") from None


class _Bar:
    """``progress(done, total)`` drawn with click's progress bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label, self.bar, self.done = label, None, 0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:  # unknown size: nothing sensible to draw
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@click.group("bench")
def bench() -> None:
    """Benchmark tables (NAS-Bench-201, AnalogNAS-Bench, plugins' tables) in the local store.

    \b
    Examples:
      automl bench list
      automl bench import nb201 ~/Downloads/NATS-tss-v1_0-3ffb9-simple
      automl bench fetch nb201
    """


@bench.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
def list_cmd(as_json: bool) -> None:
    """Known tables: installed or not, where, and how to get each."""
    from automl_nas.benchstore import TableStore
    from automl_nas.errors import AutomlError

    registry, store = _registry(), TableStore()
    rows = []
    for name in registry.names("benchmark"):
        try:
            table = registry.create("benchmark", name)
            status = table.status(store)
        except AutomlError as exc:  # one broken plugin table must not hide the others
            rows.append({"name": name, "installed": False, "where": "", "how": exc.hint or "",
                         "detail": f"unavailable: {exc.message}", "summary": ""})
            continue
        rows.append({"name": name, "installed": status.installed, "where": status.where, "how": status.how,
                     "detail": status.detail, "summary": table.summary})
    if as_json:
        click.echo(json.dumps({"store": str(store.root), "tables": rows}, indent=2))
        return
    click.echo(f"store: {store.root}")
    for row in rows:
        click.echo(f"{row['name']:<18} {'installed' if row['installed'] else 'not installed':<14} {row['summary']}")
        if row["installed"]:
            click.echo(f"    where: {row['where']}")
            if row["detail"]:
                click.echo(f"    {row['detail']}")
        else:
            if row["detail"]:  # installed once and damaged since, or its plugin is broken
                click.echo(f"    {row['detail']}")
            if row["how"]:
                click.echo(f"    {'fix' if row['detail'].startswith('unavailable') else 'get it'}: {row['how']}")


@bench.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
def import_cmd(name: str, path: str, quiet: bool) -> None:
    """Read PATH (an official benchmark file or directory, or a CSV/Parquet table) into table NAME."""
    from automl_nas.benchstore import TableStore

    table, store = _build(name), TableStore()
    with _stopped(name, "import", store):  # to the last line: the warning below says how to undo a mistake
        _import(name, path, quiet, table, store)


def _import(name: str, path: str, quiet: bool, table: Any, store: Any) -> None:
    carried = store.generation_manifest(Path(path).expanduser())
    bar = _Bar(f"importing {name}")
    try:
        with _plugin_code(name, f"importing {path}"):
            manifest = table.import_from(Path(path).expanduser(), store, None if quiet else bar)
    finally:
        bar.close()
    manifest = store.keep_provenance(name, carried, manifest) or manifest  # a generation put back
    _report(name, store, manifest)
    # the table this import replaced, read under the import lock (another import may have run between)
    before = store.replaced.get(name)
    # A partial file over a whole table, most likely by mistake: fewer rows, or columns a search reads gone.
    lost = [c for c in before.columns if c not in manifest.columns] if before is not None else []
    if before is not None and (manifest.rows < before.rows or lost):
        previous = store.previous(name) / "table.parquet"
        said = [f"had {before.rows:,} rows, this one has {manifest.rows:,}"] if manifest.rows < before.rows else []
        said += [f"had the column(s) {', '.join(lost)}, which this one lacks"] if lost else []
        click.echo(f"automl: warning: {name}: the table this import replaced {'; it '.join(said)}; the old one is kept: "
                   f"`automl bench import {name} {previous}` puts it back", err=True)


@bench.command("fetch")
@click.argument("name")
@handle_errors
def fetch_cmd(name: str) -> None:
    """Download table NAME from its published location (checked), then import it."""
    from automl_nas.benchstore import TableStore

    table, store = _build(name), TableStore()
    bar = _Bar(f"fetching {name}")
    with _stopped(name, "fetch", store):
        try:
            with _plugin_code(name, "fetching"):
                manifest = table.fetch(store, bar)
        finally:
            bar.close()
        _report(name, store, manifest)


def _report(name: str, store: Any, manifest: Any) -> None:
    from automl_nas.benchstore import describe

    click.echo(f"{name}: installed in {store.directory(name)}")
    click.echo(f"    {describe(manifest)}")
