"""Fetching a data set into a cache folder that several processes share.

Seed trials, study trials and the ranks of a data-parallel search start together, and each
loads its own data. With ``download = true`` on a fresh machine (or on every node of a cluster)
they would all download into one folder at once, and one could read a batch file that another is
still writing. A data plugin downloads inside :func:`exclusive` and installs what it fetched with
:func:`fetch_atomically`: the first process fetches, the others wait and then find its files,
and no process ever reads a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["exclusive", "fetch_atomically", "lock_path"]


def _stderr(message: str) -> None:
    print(f"automl: {message}", file=sys.stderr, flush=True)


def lock_path(directory: Path, what: str) -> Path:
    """The lock file of :func:`exclusive` (hidden, beside the data it guards)."""
    return Path(directory) / f".{what}.fetch.lock"


@contextlib.contextmanager
def exclusive(directory: Path, what: str, *, log: Callable[[str], None] = _stderr,
              doing: str = "fetching") -> Iterator[None]:
    """Run the block while no other process runs an ``exclusive(directory, what)`` block.

    A second process waits, saying so once, and should check again whether the files are still
    missing. The OS releases the lock when its holder exits or is killed, so a crashed download
    never blocks the next one. The lock file, and the directory when the block created it and
    left it empty, are removed afterwards (its parents too, where the block made them). Where no lock can be taken (no ``fcntl``, as on Windows, or a
    directory this user cannot write), the block runs unguarded: reading needs no lock.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path, directory = lock_path(directory, what), Path(directory)
    from automl_nas.records.rundir import missing_dirs, remove_empty_dirs

    created = missing_dirs(directory)  # the data folder, and AUTOML_NAS_HOME's folders above it
    while True:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the holder removed the folder it made between our mkdir and open
            continue
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process {doing} {what} into {directory} (it holds {path})")
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed the lock file when done: lock the one that is there now
    try:
        yield
    finally:
        # The lock file goes with the lock (and a folder made only for it: a failed offline
        # download left both); a waiter holding the removed file locks the new one (above).
        with contextlib.suppress(OSError):
            os.unlink(path)
        remove_empty_dirs(created)
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def fetch_atomically(dest: Path, fetch: Callable[[Path], Path]) -> None:
    """Install into ``dest`` what ``fetch`` downloads, one whole file at a time.

    ``fetch(tmp)`` fills a fresh temporary folder beside ``dest`` and returns the folder that
    holds the files (``tmp`` itself or a folder inside it, e.g. an unpacked archive's). Each
    file is then moved into ``dest`` with one rename, so a reader sees a file whole or not at
    all. A fetch that fails leaves ``dest`` as it was. The temporary folder, and any archive
    in it, is removed in both cases. Call it inside :func:`exclusive`: it first removes the
    temporary folders of fetches that were killed (no other fetch of ``dest`` can be running).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.fetching."
    for leftover in dest.parent.glob(f"{prefix}*"):  # a killed fetch's, with its partial archive
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=dest.parent) as tmp:
        _move_files(Path(fetch(Path(tmp))), dest)


def _move_files(src: Path, dest: Path) -> None:
    dest.mkdir(exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            _move_files(entry, dest / entry.name)
        else:
            os.replace(entry, dest / entry.name)
