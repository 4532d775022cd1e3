"""Which torch device a recipe's ``run.device`` means on this machine, and how many CPU threads
``run.threads`` may sensibly ask for."""

from __future__ import annotations

import os
import re
import sys

from automl_nas.errors import RunError

__all__ = ["DEVICE_CHOICES", "device_option", "resolve_device", "set_threads", "usable_cores"]

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


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_threads(n: int, *, key: str = "run.threads") -> None:
    """``torch.set_num_threads(n)`` (``0`` leaves torch's default), warning on stderr when ``n``
    exceeds the usable cores: torch's threads then wait on one another. Measured on 2 cores, a
    quick SNAS search took 2.6x as long with 3 threads and 7x with 8, and did not finish an
    epoch in a minute with 64."""
    import torch

    if not n:
        return
    cores = usable_cores()
    if n > cores:
        print(f"automl: warning: {key} = {n} is more than the {cores} CPU core{'s' if cores > 1 else ''} this "
              f"process may run on; torch's threads will wait on one another and the run will be several times "
              f"slower (fix: {key} = {cores}, or 0 for torch's default)", file=sys.stderr)
    torch.set_num_threads(n)
