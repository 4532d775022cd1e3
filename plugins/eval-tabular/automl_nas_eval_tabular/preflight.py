"""Checks of the lookup evaluators' options before a search starts (light: JSON and headers only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl_nas.errors import DataError, RecipeError, missing_file
from automl_nas_eval_tabular.nb201_columns import column, default_columns

__all__ = ["available_columns", "check_table", "wanted_columns"]

TABLE = "nb201"
GET_IT = ("automl bench import nb201 PATH (an official NATS-Bench/NAS-Bench-201 file or a CSV with an 'arch' "
          "column), or `automl bench fetch nb201` with internet")


def wanted_columns(config: Any, available: tuple[str, ...]) -> tuple[str, ...]:
    """The columns the evaluator reports under ``config`` (metrics > dataset/metric > defaults)."""
    if config.metrics is not None:
        return tuple(config.metrics)
    if config.dataset is not None or config.metric is not None:
        datasets = (config.dataset,) if config.dataset else ("cifar10", "cifar100", "ImageNet16-120")
        return tuple(column(d, config.metric or "test") for d in datasets)
    return default_columns(available) or tuple(available)


def available_columns(config: Any) -> tuple[tuple[str, ...], str]:
    """``(columns, where)`` of the configured table without loading it; DataError naming the fix."""
    if config.path is not None:
        path = Path(config.path).expanduser()
        if not path.is_file():
            raise DataError(f"nb201-table: {missing_file(path)}",
                            hint=f"fix `path`, or drop it to use the installed table ({GET_IT})")
        return _header(path), str(path)
    from automl_nas.benchstore import TableStore, store_variable

    store = TableStore()
    manifest = store.manifest(TABLE)
    if manifest is None:
        raise DataError(f"nb201-table: the NAS-Bench-201 table is not installed in {store.root}",
                        hint=f"{GET_IT}; {store_variable()} moves the store")
    return tuple(manifest.columns), str(store.directory(TABLE))


def _header(path: Path) -> tuple[str, ...]:
    if path.suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return tuple(n for n in pq.read_schema(path).names if n != "arch")
    from automl_nas_eval_tabular.nb201_import import open_text

    try:
        with open_text(path) as fh:
            header = [h.strip() for h in fh.readline().split(",")]
    except (UnicodeDecodeError, OSError) as exc:  # OSError: a .gz file that is not gzip
        raise DataError(f"nb201-table: {path} is not a UTF-8 CSV text file ({exc})",
                        hint="point `path` at the CSV (or Parquet) table, re-exported as UTF-8") from None
    if "arch" not in header:
        raise DataError(f"nb201-table: {path} has columns {header} but no 'arch' column",
                        hint="point `path` at a table whose column 'arch' holds the NAS-Bench-201 cell strings")
    return tuple(h for h in header if h and h != "arch")


def check_table(config: Any, component: str) -> None:
    columns, where = available_columns(config)
    try:
        wanted = wanted_columns(config, columns)
    except ValueError as exc:
        raise RecipeError(f"evaluator {component}: {exc}") from None
    missing = [c for c in wanted if c not in columns]
    if missing:
        hint = f"choose among {list(columns)}"
        if any("valid" in c for c in missing):
            hint += ("; validation accuracies come only from the official files: "
                     "`automl bench import nb201 NATS-tss-v1_0-3ffb9-simple` (or the NAS-Bench-201 .pth)")
        raise RecipeError(f"evaluator {component}: the table in {where} has no column(s) {missing}", hint=hint)
