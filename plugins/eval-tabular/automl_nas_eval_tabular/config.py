"""Options of the lookup evaluators (light: no torch, no numpy)."""

from __future__ import annotations

import attrs

NATS_DATASETS = ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120")


def _optional_path(_inst: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{attribute.name} must be a file path or left unset, got {value!r}")


@attrs.frozen(kw_only=True)
class TableConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "CSV or Parquet file with column 'arch' and metric columns"})
    metrics: tuple[str, ...] | None = attrs.field(
        default=None, converter=lambda v: None if v is None else tuple(v),
        validator=attrs.validators.optional(attrs.validators.deep_iterable(attrs.validators.instance_of(str))),
        metadata={"help": "columns to report (default: every column except 'arch')"})


@attrs.frozen(kw_only=True)
class NatsConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "NATS-Bench topology file (.pickle.pbz2), its '-simple' directory, "
                                                     "or a NAS-Bench-201 .pth file"})
    dataset: str = attrs.field(default="cifar10", validator=attrs.validators.in_(NATS_DATASETS),
                               metadata={"help": "benchmark data set: " + ", ".join(NATS_DATASETS)})
    hp: str = attrs.field(default="200", converter=str, validator=attrs.validators.in_(("12", "200")),
                          metadata={"help": "training schedule of the benchmark entry: '12' or '200' epochs"})


@attrs.frozen(kw_only=True)
class AnalogConfig:
    path: str | None = attrs.field(default=None, validator=_optional_path,
                                   metadata={"help": "AnalogNAS-Bench data file (default: the one shipped by the "
                                                     "analog-nasbench package)"})
