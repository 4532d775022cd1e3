"""An exclusive lock on a directory for the life of a run, a seed batch or a study driver.

The lock is a file created with ``O_EXCL`` holding the owner's pid, host and start time. A
lock left by a process that no longer exists on this host is stale and taken over (with a
note); a live owner, or an owner on another host, is an error naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from automl_nas.errors import RunError

__all__ = ["LOCK_NAME", "directory_lock", "lock_state", "pid_alive"]

LOCK_NAME = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (also used for a study's RUNNING trials)."""
    return _alive(pid)


def lock_state(directory: str | Path) -> str:
    """Who holds ``directory``'s lock, as far as this host can tell: ``"held"`` (a live process
    here), ``"stale"`` (its process here is gone: killed), ``"elsewhere"`` (another host, or
    an unreadable lock) or ``"free"`` (no lock)."""
    path = Path(directory) / LOCK_NAME
    if not path.exists():
        return "free"
    owner = _owner(path)
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return "elsewhere"
    return "held" if _alive(owner["pid"]) else "stale"


def _owner(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _try_create(path: Path, record: dict) -> bool:
    """Create ``path`` holding ``record`` only if it does not exist, whole: the record is written
    to a private file first and hard-linked into place (``link`` fails when the name exists), so
    a competing process never reads a half-written lock."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def _takeover_guard(directory: Path) -> Iterator[None]:
    """One process at a time on this host between reading a stale lock and replacing it: an
    exclusive ``flock`` on the directory itself (no file of its own to leave behind). Where that
    cannot be had (no ``fcntl``; a file system that refuses it), unguarded, as before."""
    try:
        import fcntl

        fd = os.open(directory, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def directory_lock(directory: Path, *, what: str, log: Callable[[str], None] = lambda _m: None) -> Iterator[None]:
    """Hold ``directory/.lock`` while the block runs; ``what`` names the holder in messages
    (``"run"``, ``"seed batch"``, ``"study"``)."""
    path = Path(directory) / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "what": what}
    try:
        acquired = _try_create(path, me)
        if not acquired:
            owner = _owner(path)
            stale = owner.get("host") == me["host"] and isinstance(owner.get("pid"), int) and not _alive(owner["pid"])
            if not stale:
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("started", 0)))
                raise RunError(f"{directory} is in use by another {owner.get('what', 'process')} (pid {owner.get('pid', '?')} "
                               f"on host {owner.get('host', '?')}, since {since}); two processes must not write one directory",
                               hint=f"wait for it to end, or choose another directory; if that process is gone for good "
                                    f"(e.g. on another machine), remove {path}")
            with _takeover_guard(directory):
                # Read again under the guard: another process may have taken the stale lock over
                # since we read it, and unlinking blindly removed its fresh lock (both then held it).
                now = _owner(path)
                if now and now != owner:
                    raise RunError(f"{directory} is in use by another {now.get('what', 'process')} (pid "
                                   f"{now.get('pid', '?')}, which took over a stale lock at the same moment); two "
                                   f"processes must not write one directory", hint="wait for it to end, or choose another directory")
                log(f"note: taking over the stale lock of pid {owner['pid']} (no longer running) on {directory}")
                path.unlink(missing_ok=True)
                if not _try_create(path, me):
                    raise RunError(f"{directory}: another process took the lock at the same moment", hint="run one at a time")
    except OSError as exc:
        raise RunError(f"{directory}: cannot create the lock file ({exc.strerror or exc})",
                       hint="make the directory writable, or choose another one") from None
    try:
        yield
    finally:
        if _owner(path).get("pid") == me["pid"]:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                # The directory turned read-only (or vanished) under the work: its own error is the
                # one to report (this replaced it with an internal error naming .lock). The lock left
                # behind is stale once this process is gone, and the next command takes it over.
                pass
