"""The installed tables as one value, and back as a store on another machine.

A trial on a cluster node scores from the driver's store, not the node's (which may have no
table, or another import of it): the driver's record sink serves :func:`pack_store` of its
store, the trial unpacks it once per node (:func:`unpack_store`, keyed by content) and runs
with ``AUTOML_NAS_BENCHMARKS`` pointing there (:func:`using_store`; an environment variable,
so the processes of a ranked trial see it too). Every import on the driver leaves one more copy
on each node; :func:`mark_used` removes those no trial has used for a week.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator, Mapping

import attrs

from automl_nas.benchstore._home import STORE_ENV

__all__ = ["UNUSED_FOR_S", "PackedStore", "mark_used", "pack_store", "unpack_store", "unpacked_path", "using_store"]

#: An unpacked copy that no trial has used for this long is removed by the next trial on its node
#: (a week: far longer than a trial holds its store, and a node keeps what a batch resumed
#: within days reuses).
UNUSED_FOR_S = 7 * 24 * 3600


@attrs.frozen
class PackedStore:
    """Every installed table of a store: ``files`` maps ``<table>/<file>`` to its bytes;
    ``digest`` (SHA-256 over names and contents) names the unpacked copy on a node."""

    digest: str
    files: Mapping[str, bytes]


def pack_store(root: Path) -> PackedStore | None:
    """The installed tables under ``root`` (a directory holding a manifest and its table),
    ``None`` when it has none. Half-written imports (hidden temporary directories) are left out."""
    from automl_nas.benchstore._store import MANIFEST_FILE, TABLE_FILE

    files: dict[str, bytes] = {}
    if root.is_dir():
        for table in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if (table / MANIFEST_FILE).is_file() and (table / TABLE_FILE).is_file():
                for name in (MANIFEST_FILE, TABLE_FILE):
                    files[f"{table.name}/{name}"] = (table / name).read_bytes()
    if not files:
        return None
    digest = hashlib.sha256()
    for rel, data in files.items():
        digest.update(rel.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return PackedStore(digest=digest.hexdigest(), files=files)


def unpacked_path(digest: str, under: Path | None = None) -> Path:
    """Where :func:`unpack_store` puts the store of ``digest`` on this machine: per user, since a
    node's temporary directory is shared by all its users and one's copy is not another's to write."""
    user = f"-{os.getuid()}" if hasattr(os, "getuid") else ""
    return (under or Path(tempfile.gettempdir())) / f"automl-nas-tables{user}" / digest[:24]


def unpack_store(packed: PackedStore, under: Path | None = None) -> Path:
    """A store directory holding ``packed``'s tables on this machine (written once per content;
    several trials of a node unpacking at the same time each rename a complete copy or find one)."""
    target = unpacked_path(packed.digest, under)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for rel, data in packed.files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        tmp.chmod(0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not another trial's finished copy: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def mark_used(root: Path, *, unused_for_s: float = UNUSED_FOR_S) -> bool:
    """Stamp the unpacked copy ``root`` as in use now and remove its siblings (copies and
    half-written leftovers of crashed unpacks) untouched for ``unused_for_s``. ``False`` when
    ``root`` no longer exists (removed as stale by another trial just now: unpack it again)."""
    try:
        os.utime(root)
    except FileNotFoundError:
        return False
    horizon = time.time() - unused_for_s
    for other in root.parent.iterdir():
        if other == root:
            continue
        try:
            stale = other.is_dir() and other.stat().st_mtime < horizon
        except FileNotFoundError:  # removed by another trial meanwhile
            continue
        if stale:
            shutil.rmtree(other, ignore_errors=True)
    return True


@contextlib.contextmanager
def using_store(root: Path) -> Iterator[None]:
    """Within the block (and in processes started from it) the store is ``root``."""
    before = os.environ.get(STORE_ENV)
    os.environ[STORE_ENV] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STORE_ENV, None)
        else:
            os.environ[STORE_ENV] = before
