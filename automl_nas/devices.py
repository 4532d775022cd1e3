"""Which torch device a recipe's ``run.device`` means on this machine."""

from __future__ import annotations

import re

from automl_nas.errors import RunError

__all__ = ["DEVICE_CHOICES", "device_option", "resolve_device"]

DEVICE_CHOICES = "auto, cpu, mps, cuda or cuda:N"


def device_option(_inst: object, attribute: object, value: object) -> None:
    """attrs validator of a recipe's ``device`` key: refused at load time with the key's dotted
    path, not by torch mid-run. Whether the device exists is :func:`resolve_device`'s question."""
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"'{getattr(attribute, 'name', 'device')}' must be {DEVICE_CHOICES}, got {value!r}")


def resolve_device(name: str) -> str:
    """``"auto"`` is CUDA when a GPU is visible, else CPU; an unavailable CUDA device is a
    :class:`~automl_nas.errors.RunError` naming the override that fixes it."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"run.device = {name!r} but no CUDA device is available", hint="use --set run.device=cpu")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise RunError(f"run.device = {name!r} but this machine has {count} CUDA device{'s' if count > 1 else ''} "
                       f"(cuda:0 to cuda:{count - 1})", hint="use --set run.device=cuda or a lower index")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RunError("run.device = 'mps' but no Apple-silicon GPU is available", hint="use --set run.device=cpu")
    return name
