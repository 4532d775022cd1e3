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
    # CUDA not started yet: its generators have drawn nothing, so their state is the seeds queued for
    # them (torch.manual_seed's, a user's torch.cuda.manual_seed) or, none queued, the CPU's initial
    # seed; the run's torch.manual_seed queues its own over them (saving their state would start
    # CUDA, seconds and memory for a CPU run on a GPU machine)
    lazy_cuda_seed = torch.initial_seed() if not cuda and torch.cuda.is_available() else None
    queued = _queued_cuda_seeds(torch) if lazy_cuda_seed is not None else None
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if lazy_cuda_seed is not None:
            _requeue_cuda_seeds(torch, queued, lazy_cuda_seed)


def _queued_cuda_seeds(torch) -> tuple | None:
    """The seed calls torch holds until CUDA starts (a private record: None where this torch has
    none)."""
    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None)
    if tracker is None or not hasattr(tracker, "call_order"):
        return None
    return tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order)


def _requeue_cuda_seeds(torch, queued: tuple | None, initial_seed: int) -> None:
    """Put back the seed calls queued before the run; a seed given to CUDA alone
    (``torch.cuda.manual_seed``) was replaced by the CPU's initial seed."""
    calls = [call for call in queued[2] if call] if queued is not None else []
    if queued is not None and not torch.cuda.is_initialized():
        tracker = torch.cuda._lazy_seed_tracker
        tracker.manual_seed_all_cb, tracker.manual_seed_cb, tracker.call_order = queued[0], queued[1], list(queued[2])
    elif calls:  # the run started CUDA: seed its generators as the queued calls would have
        for seed_call, _stack in calls:
            seed_call()
    else:
        torch.cuda.manual_seed_all(initial_seed)  # queued until CUDA starts, as the run's was
