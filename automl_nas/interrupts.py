"""SIGTERM handled as Ctrl-C is: what Slurm, Kubernetes, systemd and ``timeout`` send to stop a job.

A command that keeps its finished work on Ctrl-C (``except KeyboardInterrupt``: the hint, the
summary, exit 130) died at once on SIGTERM, with no word of what was kept or how to continue.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator

__all__ = ["signals_held", "sigterm_as_ctrl_c"]


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`KeyboardInterrupt` in the main thread; the
    previous handler is back afterwards. Off the main thread (no signal handler can be set
    there) the block runs as it is."""
    def terminated(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM are ignored: for the few moments a stop spends
    recording what it stopped (a study re-queues its running trials), which a second Ctrl-C cut
    short, losing the hint and the summary. Off the main thread the block runs as it is."""
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            held[sig] = signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, previous in held.items():
            signal.signal(sig, previous)

