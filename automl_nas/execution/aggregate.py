"""Mean ± std of every numeric result metric across the successful trials of a batch.

Standard deviation is the population one (``ddof=0``, numpy's default), as in
the NAS-Bench-201 tables; with one successful seed it is 0.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable

__all__ = ["flatten_numeric", "aggregate", "write_trials_csv"]

# Identifiers and bookkeeping, not measurements.
_SKIP = {"seed", "attempts", "epochs", "epochs_done", "last_epoch.epoch"}


def flatten_numeric(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"metrics": {"cifar10": 93.1}}`` -> ``{"metrics.cifar10": 93.1}``; bools, strings and lists dropped."""
    out: dict[str, float] = {}
    for key, value in record.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_numeric(value, dotted + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and dotted not in _SKIP:
            if math.isfinite(float(value)):
                out[dotted] = float(value)
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def aggregate(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{"metrics": {key: {mean, std, n}}, "per_seed": [...], "succeeded", "failed"}``."""
    records = list(records)
    ok = [r for r in records if r.get("status") == "finished"]
    columns: dict[str, list[float]] = {}
    for r in ok:
        for key, value in flatten_numeric(r).items():
            columns.setdefault(key, []).append(value)
    stats = {}
    for key in sorted(columns):
        mean, std = _mean_std(columns[key])
        stats[key] = {"mean": mean, "std": std, "n": len(columns[key])}
    per_seed = [_row(r) for r in records]
    return {"succeeded": len(ok), "failed": len(records) - len(ok), "metrics": stats, "per_seed": per_seed}


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row = {k: record.get(k) for k in ("trial", "seed", "status", "attempts", "genotype", "run_dir", "error")}
    row.update(flatten_numeric(record) if record.get("status") == "finished" else {})
    return row


def write_trials_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
