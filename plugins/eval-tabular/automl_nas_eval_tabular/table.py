"""``nb201-table``: look a NAS-Bench-201 cell up in the installed table or a CSV/Parquet file.

Without ``path`` the evaluator reads the store's ``nb201`` table (``automl bench import
nb201 ...``; columns in :mod:`automl_nas_eval_tabular.nb201_columns`). With ``path`` it reads
that file: a column ``arch`` (canonical cell strings, spec §1.3) and one column per metric,
e.g. the project's ``nb201-test-accuracy.csv`` (``arch,cifar10,cifar100,ImageNet16-120``:
test accuracy in percent after 200 epochs, averaged over seeds). ``metrics``, or
``dataset``/``metric``, pick the reported columns; by default test and validation accuracy
of every data set the table has. Each file is read once per process (cached by path, size
and modification time). A pickled evaluator carries its table (a few hundred kB): the
Ray workers of a black-box search, on any node of a cluster, score from the driver's table
whether or not their node has it installed.
"""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas.errors import DataError, RecipeError, missing_file
from automl_nas_eval_tabular.config import TableConfig
from automl_nas_eval_tabular.nb201_import import csv_rows, table_from_rows
from automl_nas_eval_tabular.nb201_text import canonical_text
from automl_nas_eval_tabular.preflight import TABLE, available_columns, wanted_columns

if TYPE_CHECKING:
    from automl_nas.benchstore import Manifest

__all__ = ["Nb201Table", "load_table"]

#: ``(metric columns, {arch: values})``: a table as read, and as a pickled evaluator carries it.
Table = tuple[tuple[str, ...], dict[str, tuple[float, ...]]]


def load_table(path: str | os.PathLike, columns: tuple[str, ...] | None = None, *, checked: bool = True) -> Table:
    """``(metric columns, {arch: values})`` of a table file (cached); a Parquet file is read
    only for ``columns`` (all when ``None``), which keeps a full NB201 table's load small.
    ``checked``: a user's file gets the checks of ``automl bench import`` (:func:`table_from_rows`);
    the store's own table, checked when it was imported, is read as it is."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"nb201-table: {missing_file(p)}",
                        hint="fix `path = ...` in the evaluator options, or drop it to use the installed table "
                             "(`automl bench import nb201 PATH` / `automl bench fetch nb201`)")
    stat = p.stat()
    return _load_cached(str(p.resolve()), stat.st_size, stat.st_mtime_ns, columns, checked)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, _size: int, _mtime: int, wanted: tuple[str, ...] | None, checked: bool) -> Table:
    header, rows = _read_parquet(path, wanted) if path.endswith((".parquet", ".pq")) else _read_csv(path)
    if checked:  # a table named by `path` skipped every check `automl bench import` makes
        try:
            arch, columns = table_from_rows(Path(path), list(header), rows)[:2]
        except DataError as exc:
            raise DataError(f"nb201-table: {exc.message}", hint=exc.hint) from None
        names = tuple(columns)
        return names, {cell: tuple(columns[c][i] for c in names) for i, cell in enumerate(arch)}
    a = header.index("arch")
    names = tuple(h for i, h in enumerate(header) if i != a)
    return names, {str(row[a]): tuple(float(v) for i, v in enumerate(row) if i != a) for row in rows}


def _read_csv(path: str) -> tuple[list[str], list[list[str]]]:
    try:
        return csv_rows(path)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"nb201-table: {path} is not a UTF-8 CSV text file ({type(exc).__name__}: {exc})",
                        hint="point `path` at the CSV (or Parquet) table, re-exported as UTF-8") from None


def _read_parquet(path: str, wanted: tuple[str, ...] | None = None) -> tuple[list[str], list[list[object]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError(f"nb201-table: reading {path} needs pyarrow", hint="pip install pyarrow (or convert the table to CSV)") from exc
    if wanted is not None:
        present = set(pq.read_schema(path).names)
        wanted = tuple(dict.fromkeys(c for c in ("arch", *wanted) if c in present))
    # ParquetFile.read, not pq.read_table: the latter goes through pyarrow.dataset, which imports
    # pandas (+50 MB RSS for nothing; benchmarks/bench_store.py)
    columns = pq.ParquetFile(path).read(columns=list(wanted) if wanted is not None else None,
                                        use_threads=False).to_pydict()
    header = list(columns)
    return header, [list(r) for r in zip(*columns.values())]


def check_nb201_space(evaluator: str, space: Any) -> None:
    """A NAS-Bench-201 table answers for cells of the nb201 space only."""
    name = getattr(space, "name", "nb201")
    if name != "nb201":
        raise RecipeError(f"evaluator {evaluator!r} looks up NAS-Bench-201 cells, and the space is {name!r}",
                          hint='search [space] name = "nb201", or choose an evaluator of that space (retrain, the '
                               'zero-cost proxies, or its own table)')


class Nb201Table(Evaluator):
    """Metrics of a NAS-Bench-201 cell from a table; keys are the column names."""

    name = "nb201-table"

    def __init__(self, config: TableConfig | None = None) -> None:
        self.config = config or TableConfig()
        self._source: tuple[Path, tuple[str, ...] | None] | None = None  # resolved on first use
        self._carried: Table | None = None  # set by unpickling
        # The table as first read, kept for the evaluator's life: a search reads one table from its
        # start to its end (an import replacing it mid-search answered later queries from the new one).
        self._read: Table | None = None
        self._manifest: Manifest | None = None  # the installed table's manifest, read with it (one generation)

    def __getstate__(self) -> dict:
        # The table travels with the evaluator (Ray's object store): a worker's node may have no
        # installed table, or another one than the driver checked before the search.
        table = self._table()  # first: it also reads the manifest, which travels too
        return {**self.__dict__, "_read": None, "_carried": table}

    def _resolve(self) -> tuple[Path, tuple[str, ...] | None]:
        """The table file and, for Parquet, the columns to read (manifest/schema read once)."""
        if self._source is None:
            path = Path(self.config.path).expanduser() if self.config.path is not None else None
            if path is None or path.suffix in (".parquet", ".pq"):
                available, _ = available_columns(self.config)  # DataError naming `automl bench ...` if not installed
                if path is None:
                    from automl_nas.benchstore import TableStore

                    path = TableStore().table_path(TABLE)
                self._source = (path, wanted_columns(self.config, available))
            else:
                self._source = (path, None)
        return self._source

    def _file(self) -> Path:
        return self._resolve()[0]

    def _table(self) -> Table:
        if self._carried is not None:
            return self._carried
        if self._read is None:
            path, columns = self._resolve()
            if self.config.path is not None:
                self._read = load_table(path, columns, checked=True)
            else:  # the manifest read with the table, both of one import (another may swap them meanwhile)
                from automl_nas.benchstore import TableStore

                store = TableStore(path.parent.parent)
                self._read, self._manifest = store.consistent(
                    TABLE, lambda: (load_table(path, columns, checked=False), store.manifest(TABLE)))
        return self._read

    @property
    def metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        if self.config.metrics is not None:
            return self.config.metrics
        return wanted_columns(self.config, self._table()[0])

    def source(self) -> dict[str, Any]:
        """The table this evaluator answers from, pinned now: the installed table's manifest
        (source file, its SHA-256, rows, when imported), or the user's file and its SHA-256."""
        self._table()  # read (and kept) with its manifest: the record names what answers
        if self.config.path is not None:
            from automl_nas.benchstore import file_sha256

            return {"path": str(self._file()), "sha256": file_sha256(self._file())}
        manifest = self._manifest
        if manifest is None:
            return {}
        return {"table": TABLE, "source": manifest.source, "source_sha256": manifest.source_sha256,
                "rows": manifest.rows, "created_at": manifest.created_at}

    def check(self, space: Any, data: Any) -> None:
        check_nb201_space(self.name, space)
        if self.config.path is not None:  # read (and checked) now, not after the search
            self._table()

    def evaluate(self, genotype: Genotype, ctx: EvalContext | None = None) -> dict[str, float]:
        columns, table = self._table()
        wanted = wanted_columns(self.config, columns)
        unknown = [m for m in wanted if m not in columns]
        if unknown:
            # a Parquet table was read for the wanted columns only: name every column it has
            every = columns if self._resolve()[1] is None or self._carried is not None else available_columns(self.config)[0]
            raise RecipeError(f"evaluator nb201-table: {self._file()} has no column(s) {unknown}",
                              hint=f"choose `metrics` (or `dataset`/`metric`) among {list(every)}")
        try:
            text = canonical_text(genotype)
        except ValueError as exc:
            raise DataError(f"nb201-table: {exc}", hint="evaluate genotypes of the nb201 search space") from exc
        if text not in table:
            raise DataError(f"nb201-table: architecture {text} is not in {self._file()}",
                            hint="use a table that covers all 15,625 NAS-Bench-201 cells")
        values = dict(zip(columns, table[text]))
        return {m: values[m] for m in wanted}
