"""One directory per table under the store root: ``<name>/table.parquet`` + ``<name>/manifest.json``.

Tables are written whole into a temporary sibling directory and renamed into place, so
a reader never sees a half-written table and an interrupted import leaves the old one.
pyarrow is imported only when a table is written or read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

from automl_nas.benchstore._home import store_root
from automl_nas.benchstore._manifest import FORMAT_VERSION, Manifest
from automl_nas.errors import DataError

__all__ = ["TableStore", "file_sha256"]

TABLE_FILE = "table.parquet"
MANIFEST_FILE = "manifest.json"
_T = TypeVar("_T")
_READ_TRIES = 5


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class TableStore:
    """The tables under ``root`` (default :func:`~automl_nas.benchstore.store_root`).

    Example:
        >>> import tempfile
        >>> store = TableStore(tempfile.mkdtemp())
        >>> _ = store.write("toy", ["a", "b"], {"acc": [1.0, 2.0]}, source="toy.csv", source_kind="csv")
        >>> store.read("toy")["acc"]
        [1.0, 2.0]
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else store_root()
        #: The manifest of the table each :meth:`write` through this store replaced (``None``: none
        #: was installed, or it was damaged), read while the write held the import lock.
        self.replaced: dict[str, Manifest | None] = {}
        #: The tables a :meth:`write` through this store has put in place.
        self.installed: set[str] = set()

    def directory(self, name: str) -> Path:
        return self.root / name

    def table_path(self, name: str) -> Path:
        return self.directory(name) / TABLE_FILE

    def manifest(self, name: str) -> Manifest | None:
        """The table's manifest, or ``None`` when it is not installed; a :class:`DataError` when
        its table file is not a whole Parquet file (cut short by a copy, or damaged)."""
        return self.consistent(name, lambda: self._manifest_once(name))

    def consistent(self, name: str, read: Callable[[], _T]) -> _T:
        """``read()`` (of table ``name``'s files, by path) done within one generation of the table:
        done again when an import swapped the table's folder meanwhile. Readers take no lock (a
        store may be read-only to them); a manifest read before a swap and a table after it
        were reported as a damaged table, or as columns that do not match."""
        directory = self.directory(name)
        for attempt in range(_READ_TRIES):
            before = _generation(directory)
            try:
                got = read()
            except (DataError, OSError):  # OSError: a file of the folder swapped away vanished mid-read
                if attempt + 1 < _READ_TRIES and _generation(directory) != before:
                    continue
                raise
            if _generation(directory) == before:
                return got
        return got

    def _manifest_once(self, name: str) -> Manifest | None:
        path = self.directory(name) / MANIFEST_FILE
        if not path.is_file() or not self.table_path(name).is_file():
            return None
        _check_whole(self.table_path(name), name)
        manifest = Manifest.read(path)
        _check_columns(self.table_path(name), manifest, name)
        return manifest

    def write(self, name: str, arch: Sequence[str], columns: Mapping[str, Sequence[float | None]], *,
              source: str, source_kind: str, source_sha256: str = "", notes: Sequence[str] = ()) -> Manifest:
        """Write (or replace) table ``name``; columns with no value at all are dropped."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        kept = {c: [_float(v) for v in values] for c, values in columns.items()}
        kept = {c: values for c, values in kept.items() if any(not math.isnan(v) for v in values)}
        for column, values in kept.items():
            if len(values) != len(arch):
                raise ValueError(f"column {column!r} has {len(values)} values for {len(arch)} cells")
        table = pa.table({"arch": pa.array(list(arch), pa.string()),
                          **{c: pa.array(v, pa.float64()) for c, v in kept.items()}})
        manifest = Manifest(name=name, format_version=FORMAT_VERSION, source=source, source_kind=source_kind,
                            source_sha256=source_sha256, rows=len(arch), columns=tuple(kept),
                            created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            notes=tuple(notes))
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
            tmp.chmod(0o755)  # mkdtemp makes it private; the store is as readable as any cache
            pq.write_table(table, tmp / TABLE_FILE, compression="zstd")
            (tmp / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
            self._replace(tmp, self.directory(name))
        except OSError as exc:  # a full disk or a read-only home; pyarrow's write errors are OSErrors too
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            kept = " (the table installed before is kept)" if self.table_path(name).is_file() else ""
            raise DataError(f"benchmark table {name!r}: cannot write it into {self.root} ({reason}){kept}",
                            hint="free disk space there or make it writable, or set AUTOML_NAS_HOME to a directory "
                                 "with room, then import again") from None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return manifest

    @staticmethod
    def generation_manifest(source: Path) -> Manifest | None:
        """The manifest beside ``source`` when it is a store generation's own ``table.parquet``
        (``.NAME.previous/``, put back as the import warning says); read it before the import,
        which moves the table it replaces into that folder."""
        try:
            return Manifest.read(source.parent / MANIFEST_FILE) if source.name == TABLE_FILE else None
        except (OSError, ValueError, DataError):
            return None

    def keep_provenance(self, name: str, carried: Manifest | None, written: Manifest | None = None) -> Manifest | None:
        """After table ``name`` was imported from a generation's ``table.parquet``, its manifest
        takes that generation's source file, kind, checksum and notes (naming the parquet had
        replaced them). ``None`` (nothing changed) when the contents are not that generation's,
        or when the installed table is no longer ``written`` (another import replaced it since)."""
        if carried is None:
            return None
        from automl_nas.datafetch import exclusive

        with exclusive(self.root, f"table-{name}", doing="importing"):  # no import swaps it meanwhile
            try:
                now = self.manifest(name)
            except DataError:
                return None
            if now is None or (written is not None and _identity(now) != _identity(written)) or \
                    (carried.name, carried.rows, carried.columns) != (name, now.rows, now.columns):
                return None
            import attrs

            kept = attrs.evolve(now, source=carried.source, source_kind=carried.source_kind,
                                source_sha256=carried.source_sha256, notes=carried.notes)
            from automl_nas.records.rundir import replace_atomically

            try:
                replace_atomically(self.directory(name) / MANIFEST_FILE, kept.to_json().encode("utf-8"))
            except OSError:
                return None
            return kept

    def read(self, name: str, columns: Sequence[str] | None = None) -> dict[str, list]:
        """``{"arch": [...], column: [...]}`` of an installed table (all columns unless named)."""
        import pyarrow.parquet as pq

        path = self.table_path(name)
        if not path.is_file():
            raise DataError(f"benchmark table {name!r} is not installed in {self.root}",
                            hint=f"`automl bench list` says how to get it (e.g. `automl bench import {name} PATH`)")
        wanted = None if columns is None else ["arch", *[c for c in columns if c != "arch"]]
        try:
            # ParquetFile.read: pq.read_table would import pandas through pyarrow.dataset (+50 MB)
            return pq.ParquetFile(path).read(columns=wanted, use_threads=False).to_pydict()
        except Exception as exc:  # pyarrow raises its own error types for damaged or foreign files
            raise DataError(f"{path}: unreadable benchmark table ({type(exc).__name__}: {exc})",
                            hint=f"import it again: `automl bench import {name} PATH`") from exc

    def previous(self, name: str) -> Path:
        """Where the table a re-import replaced is kept (one generation): a partial file imported
        over a whole table by mistake is undone with ``automl bench import NAME <it>/table.parquet``."""
        return self.root / f".{name}.previous"

    def _replace(self, tmp: Path, final: Path) -> None:
        """Put ``tmp`` in place of ``final``, the table it replaces kept as the previous generation.

        One import at a time (a lock beside the store): two at once renamed into each other's
        folder ("Directory not empty", reported as a disk problem) and left ``.NAME.old-PID``
        copies. The two folders are swapped in one step where Linux can (``renameat2``
        ``RENAME_EXCHANGE``): a search starting meanwhile found no table installed."""
        from automl_nas.datafetch import exclusive
        from automl_nas.interrupts import signals_held

        # Ctrl-C/SIGTERM held for these few renames: a stop between the swap and the keep lost the
        # replaced table (the caller's cleanup removed the folder it was in) and said it was kept.
        with exclusive(self.root, f"table-{final.name}", doing="importing"), signals_held():
            try:
                self.replaced[final.name] = self._manifest_once(final.name)
            except (DataError, OSError, ValueError):
                self.replaced[final.name] = None  # a damaged table: nothing to compare the new one with
            if not final.exists():
                os.replace(tmp, final)
                self.installed.add(final.name)
                return
            if _exchange(tmp, final):
                old = tmp  # the replaced table, now in the temporary folder
            else:
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                os.replace(final, old)
                try:
                    os.replace(tmp, final)
                except OSError:
                    os.replace(old, final)  # the installed table back where it was
                    raise
            self.installed.add(final.name)
            previous = self.previous(final.name)
            shutil.rmtree(previous, ignore_errors=True)
            try:
                os.replace(old, previous)
            except OSError:
                shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where
    that cannot be done (another system, an old kernel, a file system without it)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _identity(manifest: Manifest) -> tuple:
    return manifest.created_at, manifest.source, manifest.source_sha256, manifest.rows, manifest.columns


def _generation(directory: Path) -> tuple[int, int, int] | None:
    """Which folder is at ``directory`` now: an import renames a new one there (its own inode,
    and a new change time: an inode freed by an older generation's removal is soon reused)."""
    try:
        st = os.stat(directory)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _check_whole(path: Path, name: str) -> None:
    """A Parquet file begins and ends with ``PAR1``: 8 bytes read, found before a search runs (the
    damage surfaced only in the final evaluation, as the evaluator's failure)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size  # the open file's: the path may name a newer table by now
            head = fh.read(4)
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except OSError as exc:
        raise DataError(f"benchmark table {name!r}: {path} cannot be read ({exc.strerror or exc})",
                        hint=f"fix its permissions, or import it again: `automl bench import {name} PATH`") from None
    if head != b"PAR1" or tail != b"PAR1" or size < 12:
        raise DataError(f"benchmark table {name!r}: {path} is damaged or cut short (not a whole Parquet file)",
                        hint=f"import it again: `automl bench import {name} PATH` (or `automl bench fetch {name}`)")


def _check_columns(path: Path, manifest: Manifest, name: str) -> None:
    """The manifest's columns are the Parquet file's (its schema, a few bytes at the end): lookups
    pick columns by the manifest, and a stale one gave `"metrics": {}`."""
    import pyarrow.parquet as pq

    stored = [c for c in pq.read_schema(path).names if c != "arch"]
    if list(manifest.columns) != stored:
        raise DataError(f"benchmark table {name!r}: its manifest lists the columns {list(manifest.columns)} but "
                        f"{path} holds {stored}", hint=f"import it again: `automl bench import {name} PATH`")


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)
