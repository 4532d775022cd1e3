"""Signal handlers for one block: SIGTERM handled as Ctrl-C is, signals held while a stop is
recorded, and the one helper that installs and restores them (the engine's stop guard uses it too).

SIGTERM is what Slurm, Kubernetes, systemd and ``timeout`` send to stop a job: a command that
keeps its finished work on Ctrl-C (``except KeyboardInterrupt``: the hint, the summary, exit 130)
died at once on it, with no word of what was kept or how to continue.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any, Iterable, Iterator

__all__ = ["handled", "signals_held", "sigterm_as_ctrl_c"]


@contextlib.contextmanager
def handled(signals: Iterable[signal.Signals], handler: Any) -> Iterator[None]:
    """``handler`` for ``signals`` inside the block, the previous handlers after it. Off the main
    thread (a Ray worker's thread), where no handler can be set, the block runs as it is."""
    previous = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: raised at the first signal, so none was set
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ctrl_c(signum, frame):
    raise KeyboardInterrupt


def sigterm_as_ctrl_c():
    """Inside the block, SIGTERM raises :class:`KeyboardInterrupt` in the main thread."""
    return handled((signal.SIGTERM,), _ctrl_c)


def signals_held():
    """Inside the block, SIGINT and SIGTERM are ignored: for the few moments a stop spends
    recording what it stopped (a study re-queues its running trials), which a second Ctrl-C cut
    short, losing the hint and the summary."""
    return handled((signal.SIGINT, signal.SIGTERM), signal.SIG_IGN)
