"""What a run changes in its process, put back when it ends.

A search seeds torch's global generators and may set torch's thread count; in a Python
session that runs several searches (or goes on with the user's own work) those leaked: a
second search with ``run.threads = 0`` ("torch's default") ran on the first one's count, and
the user's later random draws repeated the run's seed.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["kept_process_state"]


@contextlib.contextmanager
def kept_process_state() -> Iterator[None]:
    """While the block runs, torch's thread count and its CPU (and initialised CUDA) random
    generators may change; afterwards they are as before."""
    import torch

    threads = torch.get_num_threads()
    # the current device only: saving every visible GPU's state would start a context on each, in
    # every torchrun rank (a rank uses its own device)
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    # CUDA not started yet: its generators have drawn nothing, so their state is the seed they were
    # (lazily) given, the CPU's initial seed; the run's torch.manual_seed queues its own for them
    # (saving their state would start CUDA, seconds and memory for a CPU run on a GPU machine)
    lazy_cuda_seed = torch.initial_seed() if not cuda and torch.cuda.is_available() else None
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if lazy_cuda_seed is not None:
            torch.cuda.manual_seed_all(lazy_cuda_seed)  # queued until CUDA starts, as the run's was
