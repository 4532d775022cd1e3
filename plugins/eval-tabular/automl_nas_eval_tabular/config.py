"""Options of the lookup evaluators (light: no torch, no numpy)."""

from __future__ import annotations

import attrs

from automl_nas.api import INPUT_FILE

NATS_DATASETS = ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120")
# Mirrors nb201_columns.DATASETS / QUANTITIES (kept literal here so the config stays import-light).
TABLE_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
TABLE_QUANTITIES = ("test", "valid", "valid_12ep", "params", "flops", "latency", "train_time", "time_12ep")


def _optional_path(_inst: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{attribute.name} must be a file path or left unset, got {value!r}")


def _column_names(value: object) -> tuple[str, ...] | None:
    # `metrics = "cifar10"` became the columns 'c', 'i', 'f', ...; `metrics = []` reported nothing
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"'metrics' expected a list such as [\"{value}\"], got the string \"{value}\"")
    names = tuple(value)  # type: ignore[arg-type]
    if not names:
        raise ValueError("'metrics' is an empty list, which reports no metric; name columns, or leave metrics out for the default")
    return names


@attrs.frozen(kw_only=True)
class TableConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "CSV or Parquet file with column 'arch' and metric columns "
                                                     "(default: the installed table, `automl bench import nb201 ...`)",
                                             INPUT_FILE: True})
    metrics: tuple[str, ...] | None = attrs.field(
        default=None, converter=lambda v: _column_names(v),
        validator=attrs.validators.optional(attrs.validators.deep_iterable(attrs.validators.instance_of(str))),
        metadata={"help": "columns to report (default: test and validation accuracy of every data set present)"})
    dataset: str | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.in_(TABLE_DATASETS)),
                                      metadata={"help": "report only this data set: " + ", ".join(TABLE_DATASETS)})
    metric: str | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.in_(TABLE_QUANTITIES)),
                                     metadata={"help": "report only this quantity: " + ", ".join(TABLE_QUANTITIES)})

    def preflight(self, component: str) -> None:
        """Before a search: the table is installed (or the file exists) and has the requested columns."""
        from automl_nas_eval_tabular.preflight import check_table

        check_table(self, component)


@attrs.frozen(kw_only=True)
class NatsConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "NATS-Bench topology file (.pickle.pbz2), its '-simple' directory, "
                                                     "or a NAS-Bench-201 .pth file", INPUT_FILE: True})
    dataset: str = attrs.field(default="cifar10", validator=attrs.validators.in_(NATS_DATASETS),
                               metadata={"help": "benchmark data set: " + ", ".join(NATS_DATASETS)})
    hp: str = attrs.field(default="200", converter=str, validator=attrs.validators.in_(("12", "200")),
                          metadata={"help": "training schedule of the benchmark entry: '12' or '200' epochs"})

    def preflight(self, component: str) -> None:
        """The benchmark file or directory exists (it is opened only when the first cell is scored)."""
        from pathlib import Path

        from automl_nas.errors import DataError, RecipeError, missing_file

        fix = ("set `path = ...` to NATS-tss-v1_0-3ffb9.pickle.pbz2, its '-simple' directory or a NAS-Bench-201 "
               ".pth, or use `nb201-table` with the installed table (`automl bench import nb201 PATH`)")
        if self.path is None:
            raise RecipeError(f"evaluator {component}: no benchmark file given", hint=fix)
        if not Path(self.path).expanduser().exists():
            raise DataError(f"{component}: {missing_file(self.path)}", hint=fix)


@attrs.frozen(kw_only=True)
class AnalogConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "AnalogNAS-Bench data file (default: the one shipped by the "
                                                     "analog-nasbench package)", INPUT_FILE: True})
