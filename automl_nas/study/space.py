"""``[study.params]`` -> Optuna suggestions -> ``--set KEY=VALUE`` overrides."""

from __future__ import annotations

import json
from typing import Any

from automl_nas.study.config import ParamSpec

__all__ = ["suggest", "to_override"]


def suggest(trial: Any, key: str, spec: ParamSpec) -> Any:
    """Ask ``trial`` (an ``optuna.Trial``) for the value of ``key``."""
    if spec.type == "categorical":
        return trial.suggest_categorical(key, list(spec.choices or []))
    if spec.type == "int":
        return trial.suggest_int(key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
    return trial.suggest_float(key, float(spec.low), float(spec.high), step=spec.step, log=spec.log)


def to_override(key: str, value: Any) -> str:
    """A ``KEY=VALUE`` string whose value parses back as the same TOML literal."""
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, (int, float)):
        literal = repr(value)
    else:
        literal = json.dumps(value)  # a JSON string is a valid TOML basic string
    return f"{key}={literal}"
