"""What a plugin implements to put a benchmark table into the store (``automl bench``)."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Callable

import attrs

from automl_nas.benchstore._manifest import Manifest
from automl_nas.benchstore._store import TableStore
from automl_nas.errors import DataError

#: ``progress(done, total)``; ``total`` may be 0 when unknown.
Progress = Callable[[int, int], None]


@attrs.frozen(kw_only=True)
class TableStatus:
    """One line of ``automl bench list``.

    Attributes:
        installed: whether lookups can be answered now.
        where: the stored table (or the embedded file) when installed.
        how: the command(s) that install it, when not installed (or to refresh it).
        detail: source, rows and caveats of the installed table.
    """

    installed: bool
    where: str = ""
    how: str = ""
    detail: str = ""


class BenchmarkTable(abc.ABC):
    """A named lookup table of architecture -> metrics, contributed by a plugin.

    Protocol: ``automl bench list`` calls :meth:`status`; ``automl bench import NAME PATH``
    calls :meth:`import_from`, which reads whatever the user has and writes the store
    entry through :meth:`TableStore.write`; ``automl bench fetch NAME`` calls :meth:`fetch`.
    Evaluators read the stored table with :meth:`TableStore.read`. None of the methods
    may keep the source in memory after returning.
    """

    name: str = ""
    summary: str = ""

    def status(self, store: TableStore) -> TableStatus:
        """Installed or not, where, and how to get it (default: the store's manifest)."""
        try:
            manifest = store.manifest(self.name)
        except DataError as exc:  # damaged: listed with what to do, not installed
            return TableStatus(installed=False, where=str(store.directory(self.name)), how=self.how_to_get(),
                               detail=exc.message)
        if manifest is None:
            return TableStatus(installed=False, how=self.how_to_get())
        return TableStatus(installed=True, where=str(store.directory(self.name)), how=self.how_to_get(),
                           detail=describe(manifest))

    def how_to_get(self) -> str:
        return f"automl bench import {self.name} PATH"

    @abc.abstractmethod
    def import_from(self, source: Path, store: TableStore, progress: Progress | None = None) -> Manifest:
        """Read ``source`` and write the store entry; :class:`DataError` naming the file if unreadable."""

    def fetch(self, store: TableStore, progress: Progress | None = None) -> Manifest:
        """Download the official source and import it (default: no published download)."""
        raise DataError(f"benchmark table {self.name!r} has no published download",
                        hint=self.how_to_get())


def describe(manifest: Manifest) -> str:
    """``15625 rows from X (kind), 42 columns, 2026-...``, plus its notes."""
    text = (f"{manifest.rows} rows from {manifest.source} ({manifest.source_kind}), "
            f"{len(manifest.columns)} columns, imported {manifest.created_at}")
    return "; ".join([text, *manifest.notes])
