"""Which torch device a recipe's ``run.device`` means on this machine."""

from __future__ import annotations

from automl_nas.errors import RunError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> str:
    """``"auto"`` is CUDA when a GPU is visible, else CPU; an unavailable CUDA device is a
    :class:`~automl_nas.errors.RunError` naming the override that fixes it."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"run.device = {name!r} but no CUDA device is available", hint="use --set run.device=cpu")
    return name
