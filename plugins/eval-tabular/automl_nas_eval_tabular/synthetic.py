"""Small NAS-Bench-201 benchmark files in each official format, written with the official
packages' own classes (``nats_bench``, ``nas_201_api``): for tests and ``benchmarks/``.

Every number is a closed-form function of (architecture, data set, seed, schedule), so a
reader's output can be checked exactly: :func:`expected_row` gives the store columns.

* :func:`write_nats_simple` -- ``<dir>/meta.pickle.pbz2`` + ``<dir>/NNNNNN.pickle.pbz2``
  (``{"12": ArchResults state, "200": ...}`` per architecture), the ``-simple`` layout that
  ``nats_bench.create(dir, "tss", fast_mode=True)`` reads.
* :func:`write_nats_pbz2` -- one ``.pickle.pbz2`` with ``meta_archs``/``arch2infos``/
  ``evaluated_indexes`` (``nats_bench.create(file, "tss")``).
* :func:`write_nb201_pth` -- ``torch.save`` of ``{"meta_archs", "arch2infos": {i: {"less",
  "full"}}, "evaluated_indexes"}`` built with ``nas_201_api.api_utils`` classes (v1.0/v1.1 layout).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from statistics import fmean
from typing import Any

from automl_nas_eval_tabular.nb201_columns import column
from automl_nas_eval_tabular.nb201_text import format_ops

SEEDS = (777, 888)  # the real files have 1-3 seeds per data set
EPOCHS = {"12": 3, "200": 4}  # few recorded epochs keep the files small; the readers take the last one
# data set -> evaluation sets recorded (NAS-Bench-201 §3: cifar10 is trained on train+valid)
EVAL_SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
             "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
TRAIN_EPOCH_S = {"cifar10-valid": 10.0, "cifar10": 20.0, "cifar100": 11.0, "ImageNet16-120": 30.0}
EVAL_EPOCH_S = 0.5


def archs(count: int) -> list[str]:
    """The first ``count`` NB201 cells in the official index order (op product order)."""
    return [format_ops(ops) for ops in itertools.islice(itertools.product(range(5), repeat=6), count)]


def accuracy(index: int, dataset: str, setname: str, seed: int, hp: str) -> float:
    base = 50.0 + (index * 7 % 40) + 0.1 * list(EVAL_SETS).index(dataset) + 0.01 * EVAL_SETS[dataset].index(setname)
    return round(base + (seed - 777) / 1000.0 - (5.0 if hp == "12" else 0.0), 6)


def params(index: int, dataset: str) -> float:
    return round(0.1 + index / 100.0 + 0.001 * list(EVAL_SETS).index(dataset), 6)


def _results_count(cls: Any, index: int, arch: str, dataset: str, seed: int, hp: str, epochs: int) -> Any:
    # Intermediate epochs hold seeded noise, as incompressible as real curves, so that files
    # written with the real record lengths have about the real size; the last epoch is exact.
    rng = random.Random(f"{index}-{dataset}-{seed}-{hp}")
    curve = {e: rng.uniform(10, 90) for e in range(epochs)}
    rc = cls(dataset, None, curve, {e: rng.uniform(0, 3) for e in range(epochs)},
             params(index, dataset), 2 * params(index, dataset), {"arch_str": arch}, seed, epochs, [0.001 * (1 + index % 3)])
    rc.update_train_info(curve, {e: rng.uniform(50, 99) for e in range(epochs)}, {e: rng.uniform(0, 3) for e in range(epochs)},
                         {e: TRAIN_EPOCH_S[dataset] for e in range(epochs)})
    sets = EVAL_SETS[dataset]
    accs = {f"{s}@{e}": (accuracy(index, dataset, s, seed, hp) if e == epochs - 1 else rng.uniform(10, 90))
            for s in sets for e in range(epochs)}
    rc.update_eval(accs, {k: rng.uniform(0, 3) for k in accs}, {k: EVAL_EPOCH_S for k in accs})
    return rc


def arch_state(api_utils: Any, index: int, arch: str, hp: str, epochs: dict[str, int] | None = None) -> dict:
    """``ArchResults(...).state_dict()`` of one architecture and schedule (``epochs``: records
    per schedule; the real files hold 12 and 200, the tests' default is :data:`EPOCHS`)."""
    n = (epochs or EPOCHS)[hp]
    result = api_utils.ArchResults(index, arch)
    for dataset in EVAL_SETS:
        for seed in SEEDS:
            result.update(dataset, seed, _results_count(api_utils.ResultsCount, index, arch, dataset, seed, hp, n))
    return result.state_dict()


def write_nats_simple(directory: Path, count: int, epochs: dict[str, int] | None = None) -> Path:
    from nats_bench import api_utils

    directory.mkdir(parents=True, exist_ok=True)
    names = archs(count)
    api_utils.pickle_save({"meta_archs": names}, str(directory / "meta.pickle"))
    for i, arch in enumerate(names):
        api_utils.pickle_save({hp: arch_state(api_utils, i, arch, hp, epochs) for hp in ("12", "200")},
                              str(directory / f"{i:06d}.pickle"))
    return directory


def write_nats_pbz2(path_stem: Path, count: int) -> Path:
    """Writes ``<path_stem>.pbz2`` (pass ``.../NATS-tss-x.pickle``); returns the file."""
    from nats_bench import api_utils

    names = archs(count)
    data = {"meta_archs": names, "evaluated_indexes": list(range(count)),
            "arch2infos": {i: {hp: arch_state(api_utils, i, a, hp) for hp in ("12", "200")} for i, a in enumerate(names)}}
    api_utils.pickle_save(data, str(path_stem))
    return Path(str(path_stem) + ".pbz2")


def write_nb201_pth(path: Path, count: int, *, legacy: bool = False, epochs: dict[str, int] | None = None) -> Path:
    """``legacy=True``: torch's pre-1.6 serialization (as the published v1.0/v1.1 files), else the zip format."""
    import torch
    from nas_201_api import api_utils

    names = archs(count)
    data = {"meta_archs": names, "evaluated_indexes": list(range(count)),
            "arch2infos": {i: {"less": arch_state(api_utils, i, a, "12", epochs), "full": arch_state(api_utils, i, a, "200", epochs)}
                           for i, a in enumerate(names)}}
    torch.save(data, path, _use_new_zipfile_serialization=not legacy)
    return path


def expected_row(index: int, epochs: dict[str, int] | None = None) -> dict[str, float]:
    """The store columns the importer must produce for architecture ``index``."""
    epochs = epochs or EPOCHS
    row: dict[str, float] = {}
    for d in ("cifar10", "cifar100", "ImageNet16-120"):
        vd, ts = ("cifar10-valid", "ori-test") if d == "cifar10" else (d, "x-test")
        row[column(d, "test")] = fmean(accuracy(index, d, ts, s, "200") for s in SEEDS)
        row[column(d, "valid")] = fmean(accuracy(index, vd, "x-valid", s, "200") for s in SEEDS)
        for s in SEEDS:
            row[column(d, "test", s)] = accuracy(index, d, ts, s, "200")
            row[column(d, "valid", s)] = accuracy(index, vd, "x-valid", s, "200")
        row[column(d, "valid_12ep")] = fmean(accuracy(index, vd, "x-valid", s, "12") for s in SEEDS)
        row[column(d, "params")] = params(index, d)
        row[column(d, "flops")] = 2 * params(index, d)
        row[column(d, "latency")] = 0.001 * (1 + index % 3)
        row[column(d, "train_time")] = TRAIN_EPOCH_S[d] * epochs["200"]
        row[column(d, "time_12ep")] = TRAIN_EPOCH_S[vd] * epochs["12"] + EVAL_EPOCH_S
    return row
