"""Activation checkpointing for the search supernet that keeps the maths and the BN state exact.

Issue 8, the memory option. ``torch.utils.checkpoint`` (non-reentrant) recomputes a region in
backward instead of keeping its activations; it replays the forward's RNG state, so drop-path
masks agree. The recomputation would move batch-norm running statistics a second time, so they
are saved before and restored after it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["CHECKPOINTING", "checkpointed", "recomputes"]

# off: keep every activation; cells: keep only each cell's inputs; edges: keep each edge's mixed output.
CHECKPOINTING = ("off", "cells", "edges")


def recomputes(module: nn.Module) -> bool:
    """Whether a forward of ``module`` now should checkpoint (a training step that builds a graph)."""
    return module.training and torch.is_grad_enabled()


def checkpointed(fn: Callable[..., Any], *args: Any, modules: Iterable[nn.Module]) -> Any:
    """``fn(*args)``, recomputed in backward; ``modules`` hold the BNs the region runs."""
    bns = [m for module in modules for m in module.modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    return checkpoint(fn, *args, use_reentrant=False,
                      context_fn=lambda: (contextlib.nullcontext(), _KeepRunningStats(bns)))


class _KeepRunningStats:
    """Restores BN running statistics after the recomputation (it runs the BNs once more)."""

    def __init__(self, bns: list[nn.modules.batchnorm._BatchNorm]) -> None:
        self.bns = bns

    def __enter__(self) -> None:
        self.saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in self.bns]

    def __exit__(self, *exc: object) -> None:
        with torch.no_grad():
            for m, (mean, var, count) in zip(self.bns, self.saved):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)
