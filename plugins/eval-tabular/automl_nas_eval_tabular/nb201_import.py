"""Read NAS-Bench-201 results from whatever a user has into the store's columns.

Accepted sources (``automl bench import nb201 PATH``):

* ``NATS-tss-v1_0-3ffb9-simple/`` -- the NATS-Bench topology directory of per-architecture
  ``NNNNNN.pickle.pbz2`` files plus ``meta.pickle.pbz2``. Streamed with the official API's
  light mode (``nats_bench.create(dir, "tss", fast_mode=True)``): one architecture is loaded,
  turned into a row and dropped, so memory stays flat.
* ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` -- the single-file archive: one bz2-compressed pickle of
  ``{"meta_archs", "arch2infos": {index: {"12": ..., "200": ...}}, "evaluated_indexes"}``.
* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` -- the
  ``torch.save``'d dict ``{"meta_archs", "arch2infos": {index: {"less": 12-epoch results,
  "full": 200-epoch results}}, "evaluated_indexes"}`` read by ``nas_201_api`` (torch's legacy
  format or the zip format).

  Both single files are one pickle each, which ``pickle.load``/``torch.load`` (and the official
  APIs on top) would build whole -- tens of GB for the NAS-Bench-201 ``.pth``. They are read by
  :mod:`automl_nas_eval_tabular.pickle_stream` instead: a restricted two-pass reader that hands
  each ``arch2infos`` entry over as soon as it is complete, so memory stays at one entry (no
  code named by the file runs, no torch import); it decodes in pure Python, so these imports
  take longer than the ``-simple`` directory's.
* a CSV or Parquet file with a column ``arch`` and numeric columns (e.g. the project's
  ``nb201-test-accuracy.csv``); its columns are kept as they are.

Per-architecture results are read with ``nats_bench.api_utils.ArchResults`` (the NAS-Bench-201
state dicts have the same layout), so means over seeds, the choice of evaluation set and
cost fields follow the official API. Column meanings: :mod:`automl_nas_eval_tabular.nb201_columns`.
"""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path
from typing import Any, Callable, Iterator

from automl_nas.errors import DataError
from automl_nas.safe_pickle import restricted_load
from automl_nas_eval_tabular.nb201_columns import DATASETS, column, is_accuracy
from automl_nas_eval_tabular.nb201_text import format_ops, parse_ops

__all__ = ["ImportedTable", "csv_rows", "detect_kind", "read_source", "table_from_rows"]

ACCEPTED = ("a NATS-Bench topology directory (NATS-tss-v1_0-3ffb9-simple/), its single file "
            "(NATS-tss-v1_0-3ffb9.pickle.pbz2), a NAS-Bench-201 .pth (v1_0-e61699 / v1_1-096897), "
            "or a CSV/Parquet file with an 'arch' column")

Progress = Callable[[int, int], None]
ImportedTable = tuple[list[str], dict[str, list[float]], list[str]]  # arch, columns, notes


def detect_kind(path: Path) -> str:
    """``nats-simple``, ``nats-pbz2``, ``nb201-pth``, ``csv`` or ``parquet``; DataError otherwise."""
    if path.is_dir():
        if (path / "meta.pickle.pbz2").is_file():
            return "nats-simple"
        raise DataError(f"{path}: a directory without meta.pickle.pbz2 is not a NATS-Bench '-simple' directory",
                        hint=f"pass {ACCEPTED}")
    if not path.is_file():
        raise DataError(f"{path} does not exist", hint=f"pass {ACCEPTED}")
    name = path.name.lower()
    for suffix, kind in ((".pth", "nb201-pth"), (".pbz2", "nats-pbz2"), (".csv", "csv"), (".csv.gz", "csv"),
                         (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return kind
    raise DataError(f"{path}: unknown benchmark file type", hint=f"pass {ACCEPTED}")


def read_source(path: Path, progress: Progress | None = None) -> tuple[str, ImportedTable]:
    """``(kind, (arch strings, {column: values}, notes))`` of any accepted source."""
    kind = detect_kind(path)
    reader = {"nats-simple": _read_nats_simple, "nats-pbz2": _read_nats_pbz2, "nb201-pth": _read_pth,
              "csv": _read_csv, "parquet": _read_parquet}[kind]
    try:
        arch, columns, notes = reader(path, progress or (lambda _d, _t: None))
    except DataError:
        raise
    except Exception as exc:  # the official readers raise ValueError/AssertionError/pickle/bz2 errors
        raise DataError(f"{path}: not a readable {kind} benchmark source ({type(exc).__name__}: {exc})",
                        hint=f"pass an intact copy of {ACCEPTED}") from exc
    if not arch:
        raise DataError(f"{path}: no architectures found", hint=f"pass {ACCEPTED}")
    if not any(c.endswith("_valid") or "_valid_" in c for c in columns):
        notes.append("no validation accuracies in the source: selection by validation (black-box "
                     "`metric = \"cifar10_valid_12ep\"`) needs an official NATS-Bench/NAS-Bench-201 file")
    return kind, (arch, columns, notes)


# ---------------------------------------------------------------- official formats


def _rows_to_table(rows: Iterator[tuple[str, dict[str, float]]]) -> ImportedTable:
    arch: list[str] = []
    columns: dict[str, list[float]] = {}
    for n, (text, row) in enumerate(rows):
        arch.append(format_ops(parse_ops(text)))
        for key, value in row.items():
            columns.setdefault(key, [math.nan] * n).append(value)
        for key, values in columns.items():
            if len(values) < n + 1:
                values.append(math.nan)
    return arch, columns, []


def _read_nats_simple(path: Path, progress: Progress) -> ImportedTable:
    import nats_bench

    api = nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)
    total = len(api)

    def rows() -> Iterator[tuple[str, dict[str, float]]]:
        for index in range(total):
            api.reload(str(path), index)  # loads NNNNNN.pickle.pbz2 only
            hp2res = api.arch2infos_dict.pop(index)
            api.evaluated_indexes.discard(index)
            yield api.meta_archs[index], arch_row(hp2res)
            progress(index + 1, total)

    return _rows_to_table(rows())


def _read_nats_pbz2(path: Path, progress: Progress) -> ImportedTable:
    import bz2

    @contextlib.contextmanager
    def opened() -> Iterator[tuple[Any, Callable[[], int]]]:
        with open(path, "rb") as raw, bz2.BZ2File(raw) as stream:
            yield stream, raw.tell  # progress in compressed bytes

    return _stream_pickle(opened, path.stat().st_size, progress, {"12": "12", "200": "200"})


def _read_pth(path: Path, progress: Progress) -> ImportedTable:
    with open(path, "rb") as fh:
        is_zip = fh.read(4) == b"PK\x03\x04"
    if is_zip:  # torch >= 1.6 format: the object is the pickle archive/data.pkl inside a zip
        import zipfile

        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if member is None:
                raise ValueError("a zip without data.pkl is not a torch.save file")
            size = archive.getinfo(member).file_size

        @contextlib.contextmanager
        def opened() -> Iterator[tuple[Any, Callable[[], int]]]:
            with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
                yield stream, stream.tell

        return _stream_pickle(opened, size, progress, {"less": "12", "full": "200"})

    @contextlib.contextmanager
    def opened_legacy() -> Iterator[tuple[Any, Callable[[], int]]]:
        with open(path, "rb") as fh:
            _legacy_header(fh)
            yield fh, fh.tell

    return _stream_pickle(opened_legacy, path.stat().st_size, progress, {"less": "12", "full": "200"})


_TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER


def _legacy_header(fh: Any) -> None:
    """Skip torch's legacy header pickles (magic number, protocol version, sys info)."""
    header = {("collections", "OrderedDict")}
    if restricted_load(fh, header, what="a torch.save header") != _TORCH_MAGIC:
        raise ValueError("not a torch.save file (wrong magic number)")
    restricted_load(fh, header, what="a torch.save header")
    restricted_load(fh, header, what="a torch.save header")


def _stream_pickle(opened: Callable[[], Any], size: int, progress: Progress,
                   hp_keys: dict[str, str]) -> ImportedTable:
    """Two streaming passes over one big pickle (:mod:`automl_nas_eval_tabular.pickle_stream`)."""
    from automl_nas_eval_tabular.pickle_stream import last_reads, stream_entries

    rows: list[tuple[int, dict[str, float]]] = []
    with opened() as (stream, position):
        live = last_reads(stream, lambda: progress(position(), 2 * size))
    with opened() as (stream, position):
        top = stream_entries(stream, "arch2infos", lambda index, entry: rows.append((int(index), _entry_row(entry, hp_keys))),
                             live, lambda: progress(size + position(), 2 * size))
    if not isinstance(top, dict) or "meta_archs" not in top:
        found = sorted(top)[:6] if isinstance(top, dict) else type(top).__name__
        raise ValueError(f"expected a dict with 'meta_archs' and 'arch2infos', found {found}")
    progress(2 * size, 2 * size)
    meta = top["meta_archs"]
    return _rows_to_table((meta[index], row) for index, row in sorted(rows, key=lambda r: r[0]))


def _entry_row(entry: Any, hp_keys: dict[str, str]) -> dict[str, float]:
    from nats_bench.api_utils import ArchResults

    if not isinstance(entry, dict) or not set(hp_keys) & set(entry):
        found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise ValueError(f"an architecture has results under {found}, expected {sorted(hp_keys)}")
    return arch_row({hp: ArchResults.create_from_state_dict(entry[key]) for key, hp in hp_keys.items() if key in entry})


def arch_row(hp2res: dict[str, Any]) -> dict[str, float]:
    """The store columns of one architecture from its ``{"12"|"200": ArchResults}``."""
    row: dict[str, float] = {}
    full, short = hp2res.get("200"), hp2res.get("12")
    for dataset in DATASETS:
        valid_ds = "cifar10-valid" if dataset == "cifar10" else dataset
        test_set = "ori-test" if dataset == "cifar10" else "x-test"
        if full is not None:
            _accuracies(row, full, dataset, dataset, test_set, "test")
            _accuracies(row, full, dataset, valid_ds, "x-valid", "valid")
            _costs(row, full, dataset)
        if short is not None:
            row[column(dataset, "valid_12ep")] = _accuracy(short, valid_ds, "x-valid", False)
            row[column(dataset, "time_12ep")] = _query_time(short, valid_ds)
    return row


def _accuracies(row: dict, res: Any, dataset: str, source: str, setname: str, quantity: str) -> None:
    row[column(dataset, quantity)] = _accuracy(res, source, setname, False)
    for seed in res.dataset_seed.get(source, ()):
        row[column(dataset, quantity, seed)] = _accuracy(res, source, setname, int(seed))


def _accuracy(res: Any, dataset: str, setname: str, seed: bool | int) -> float:
    if dataset not in res.dataset_seed:
        return math.nan
    try:
        return _num(res.get_metrics(dataset, setname, iepoch=None, is_random=seed)["accuracy"])
    except (KeyError, ValueError, TypeError):  # this evaluation set was not recorded for this data set
        return math.nan


def _costs(row: dict, res: Any, dataset: str) -> None:
    if dataset not in res.dataset_seed:
        return
    costs = res.get_compute_costs(dataset)
    row[column(dataset, "params")] = _num(costs.get("params"))
    row[column(dataset, "flops")] = _num(costs.get("flops"))
    row[column(dataset, "latency")] = _num(costs.get("latency"))
    row[column(dataset, "train_time")] = _num(costs.get("T-train@total"))


def _query_time(res: Any, dataset: str) -> float:
    """NATS-Bench ``simulate_train_eval``: training time of the schedule + one validation epoch."""
    if dataset not in res.dataset_seed:
        return math.nan
    costs = res.get_compute_costs(dataset)
    return _num(costs.get("T-train@total")) + _num(costs.get("T-x-valid@epoch"))


def _num(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------- plain tables


def open_text(path: Path | str):
    """A CSV file as text, gzip-compressed (``.gz``) or not; ``-sig``: Excel's byte-order mark
    is not part of the first column's name."""
    if str(path).lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def csv_rows(path: Path | str) -> tuple[list[str], list[list[str]]]:
    """The header (names stripped) and the non-empty rows of a CSV file (``.csv`` or
    ``.csv.gz``); ``bench import`` and the ``nb201-table`` evaluator's ``path`` read it alike."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        return header, [row for row in reader if row]


def _read_csv(path: Path, progress: Progress) -> ImportedTable:
    return table_from_rows(path, *csv_rows(path))


def _read_parquet(path: Path, progress: Progress) -> ImportedTable:
    import pyarrow.parquet as pq

    columns = pq.read_table(path).to_pydict()
    return table_from_rows(path, list(columns), [list(r) for r in zip(*columns.values())])


def table_from_rows(path: Path, header: list[str], data: list[list[Any]]) -> ImportedTable:
    """A plain table's rows, checked (an 'arch' column, cells that parse, no clashing repeats,
    finite values, accuracies in 0-100) and with canonical cell strings; ``bench import`` and
    the ``nb201-table`` evaluator's ``path`` read tables through here."""
    if "arch" not in header:
        other = next((sep for sep in (";", "\t", "|") if len(header) == 1 and sep in header[0]), None)
        raise DataError(f"{path}: columns {header} have no 'arch' column"
                        + (f" (the file seems to separate its fields with {other!r}, not ',')" if other else ""),
                        hint="re-export the table with ',' between fields" if other else
                             "name the column of NAS-Bench-201 cell strings 'arch'")
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:  # one list per name: a repeat appended twice to it, and lookups read other rows' values
        raise DataError(f"{path}: the header names {', '.join(repr(h) for h in repeated)} more than once "
                        f"({', '.join(header)})", hint="give each column its own name, or drop the repeated column")
    a = header.index("arch")
    # A row index written along (pandas' to_csv without index=False) has no name: not a metric.
    unnamed = [i for i, h in enumerate(header) if i != a and (not h or h.startswith("Unnamed:"))]
    notes = [f"left out {len(unnamed)} unnamed column(s) (a row index, such as pandas writes without index=False)"] \
        if unnamed else []
    kept = [i for i in range(len(header)) if i != a and i not in unnamed]
    names = [header[i] for i in kept]
    arch: list[str] = []
    columns: dict[str, list[float]] = {h: [] for h in names}
    first_row: dict[str, tuple[int, int]] = {}  # cell -> (row number, index in arch)
    for n, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: row {n} has {len(row)} fields but the header has {len(header)} "
                            f"({', '.join(header)})", hint="repair or re-export the table; an empty field means a missing value")
        try:
            cell = format_ops(parse_ops(str(row[a])))
        except (ValueError, TypeError, IndexError) as exc:
            raise DataError(f"{path}: row {n} is malformed ({exc})", hint="repair or re-export the table") from exc
        values = [_number(path, n, header[i], row[i]) for i in kept]
        if cell in first_row:  # a lookup would have answered with whichever row came last
            m, index = first_row[cell]
            if all(same_value(columns[h][index], v) for h, v in zip(names, values)):
                continue  # an exact repeat (tables concatenated): kept once
            raise DataError(f"{path}: row {n} repeats the cell of row {m} ({cell}) with other values",
                            hint="keep one row per cell; NAS-Bench-201 has one result per architecture and data set")
        first_row[cell] = (n, len(arch))
        arch.append(cell)
        for h, v in zip(names, values):
            _check_value(path, n, h, v)
            columns[h].append(v)
    _check_percent(path, columns)
    return arch, columns, notes


def _number(path: Path, row: int, name: str, value: Any) -> float:
    if value in ("", None):
        return math.nan
    try:
        return float(value)
    except (ValueError, TypeError):
        raise DataError(f"{path}: row {row}, column {name!r} is {value!r}, not a number; every column but 'arch' is "
                        f"a metric (a number per cell)", hint=f"drop the column {name!r} (or its text) from the table "
                                                          f"and import it again") from None


def _check_value(path: Path, row: int, name: str, value: float) -> None:
    # A lookup would hand an infinite or out-of-range accuracy to a search as its reward.
    if math.isinf(value):
        raise DataError(f"{path}: row {row}, column {name!r} is {value}",
                        hint="leave the field empty for a missing value; a table holds finite numbers")
    if is_accuracy(name) and not math.isnan(value) and not 0 <= value <= 100:
        raise DataError(f"{path}: row {row}, column {name!r} is {value:g}, outside 0-100; NAS-Bench-201 "
                        f"accuracies are percentages", hint="repair or re-export the table")


def _check_percent(path: Path, columns: dict[str, list[float]]) -> None:
    # Fractions would rank the same but compare wrongly with every paper number and [expected] band.
    for name, values in columns.items():
        present = [v for v in values if not math.isnan(v)]
        if is_accuracy(name) and len(present) > 1 and max(present) <= 1:
            raise DataError(f"{path}: column {name!r} holds fractions (all values are 0-1); NAS-Bench-201 "
                            f"accuracies are percentages (94.37, not 0.9437)",
                            hint=f"multiply the column {name!r} by 100 and import again")


def same_value(a: float, b: float) -> bool:
    """Equal, with nan (no value) equal to nan."""
    return a == b or (math.isnan(a) and math.isnan(b))
