"""Read NAS-Bench-201 results from whatever a user has into the store's columns.

Accepted sources (``automl bench import nb201 PATH``):

* ``NATS-tss-v1_0-3ffb9-simple/`` -- the NATS-Bench topology directory of per-architecture
  ``NNNNNN.pickle.pbz2`` files plus ``meta.pickle.pbz2``. Streamed with the official API's
  light mode (``nats_bench.create(dir, "tss", fast_mode=True)``): one architecture is loaded,
  turned into a row and dropped, so memory stays flat.
* ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` -- the single-file archive. It is one pickle, so it is
  unpickled once (``nats_bench.api_utils.pickle_load``); the API object is *not* built on top
  (that deep-copies the whole dict and builds every ``ArchResults``): entries are converted
  one by one and deleted from the dict as they are read.
* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` -- the
  ``torch.save``'d dict ``{"meta_archs", "arch2infos": {index: {"less": 12-epoch results,
  "full": 200-epoch results}}, "evaluated_indexes"}`` read by ``nas_201_api``; loaded with
  ``torch.load(weights_only=True)`` (no code named by the file runs) and converted entry by entry.
* a CSV or Parquet file with a column ``arch`` and numeric columns (e.g. the project's
  ``nb201-test-accuracy.csv``); its columns are kept as they are.

Per-architecture results are read with ``nats_bench.api_utils.ArchResults`` (the NAS-Bench-201
state dicts have the same layout), so means over seeds, the choice of evaluation set and
cost fields follow the official API. Column meanings: :mod:`automl_nas_eval_tabular.nb201_columns`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Callable, Iterator

from automl_nas.errors import DataError
from automl_nas_eval_tabular.nb201_columns import DATASETS, column
from automl_nas_eval_tabular.nb201_text import format_ops, parse_ops

__all__ = ["ImportedTable", "detect_kind", "read_source"]

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
    for suffix, kind in ((".pth", "nb201-pth"), (".pbz2", "nats-pbz2"), (".csv", "csv"),
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
    from nats_bench.api_utils import pickle_load

    raw = pickle_load(str(path))
    return _convert_dict(raw, progress, {"12": "12", "200": "200"})


def _read_pth(path: Path, progress: Progress) -> ImportedTable:
    import torch

    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    return _convert_dict(raw, progress, {"less": "12", "full": "200"})


def _convert_dict(raw: Any, progress: Progress, hp_keys: dict[str, str]) -> ImportedTable:
    from nats_bench.api_utils import ArchResults

    if not isinstance(raw, dict) or not {"meta_archs", "arch2infos"} <= set(raw):
        found = sorted(raw)[:6] if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"expected a dict with 'meta_archs' and 'arch2infos', found {found}")
    meta, infos = raw["meta_archs"], raw["arch2infos"]
    total = len(infos)

    def rows() -> Iterator[tuple[str, dict[str, float]]]:
        for done, index in enumerate(sorted(infos)):
            entry = infos.pop(index)  # free the source entry as soon as it is read
            missing = set(hp_keys) - set(entry)
            if len(missing) == len(hp_keys):
                raise ValueError(f"architecture {index} has results under {sorted(entry)}, expected {sorted(hp_keys)}")
            hp2res = {hp: ArchResults.create_from_state_dict(entry[key]) for key, hp in hp_keys.items() if key in entry}
            yield meta[index], arch_row(hp2res)
            progress(done + 1, total)

    return _rows_to_table(rows())


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


def _read_csv(path: Path, progress: Progress) -> ImportedTable:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        data = [row for row in reader if row]
    return _from_rows(path, header, data)


def _read_parquet(path: Path, progress: Progress) -> ImportedTable:
    import pyarrow.parquet as pq

    columns = pq.read_table(path).to_pydict()
    return _from_rows(path, list(columns), [list(r) for r in zip(*columns.values())])


def _from_rows(path: Path, header: list[str], data: list[list[Any]]) -> ImportedTable:
    if "arch" not in header:
        raise DataError(f"{path}: columns {header} have no 'arch' column",
                        hint="name the column of NAS-Bench-201 cell strings 'arch'")
    a = header.index("arch")
    names = [h for i, h in enumerate(header) if i != a]
    arch: list[str] = []
    columns: dict[str, list[float]] = {h: [] for h in names}
    for n, row in enumerate(data, start=2):
        try:
            arch.append(format_ops(parse_ops(str(row[a]))))
            for h, value in zip(names, (v for i, v in enumerate(row) if i != a)):
                columns[h].append(math.nan if value in ("", None) else float(value))
        except (ValueError, TypeError, IndexError) as exc:
            raise DataError(f"{path}: row {n} is malformed ({exc})", hint="repair or re-export the table") from exc
    return arch, columns, []
