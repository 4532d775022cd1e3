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
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
