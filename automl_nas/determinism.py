"""``run.deterministic``: kernels whose results do not depend on scheduling, for one run."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

__all__ = ["deterministic_kernels"]

# cuBLAS needs a fixed workspace for reproducible GEMMs (CUDA >= 10.2); read when cuBLAS starts.
CUBLAS_WORKSPACE = ":4096:8"


@contextlib.contextmanager
def deterministic_kernels(enabled: bool) -> Iterator[None]:
    """While the block runs, ask torch for deterministic algorithms when ``enabled``.

    On the CPU a seeded run repeats bit for bit anyway. On a GPU it does not: cuDNN picks
    convolution algorithms by timing them, and some kernels accumulate with atomics, so two runs
    of one seed (or a run and its resume) drift apart by rounding, and a search's argmax can
    flip. This fixes cuDNN's choice, asks for deterministic kernels (an op that has none warns
    and runs, rather than stopping the search) and sets cuBLAS's workspace unless the
    environment already chose one. Settings are restored afterwards (a process may run more).
    """
    if not enabled:
        yield
        return
    import torch

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    chosen = "CUBLAS_WORKSPACE_CONFIG" in os.environ
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]
        if not chosen:  # cuBLAS keeps what it read at its start; child processes should not inherit it
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
