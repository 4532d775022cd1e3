"""``automl bench fetch nb201``: download the official NATS-Bench topology archive and import it.

The archive is ``NATS-tss-v1_0-3ffb9-simple.tar`` (a tar of the ``-simple`` directory),
published by the NATS-Bench authors (github.com/D-X-Y/NATS-Bench, "Preparation and
Download"). The download is checked against the archive's SHA-256 before anything is
unpacked; ``AUTOML_NAS_NB201_URL`` / ``AUTOML_NAS_NB201_SHA256`` replace the location and
the expected checksum (e.g. a mirror). Offline, the command fails at once: a 5-second TCP
probe of the host comes before anything is written.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from automl_nas.benchstore import Manifest, TableStore
from automl_nas.errors import DataError

ARCHIVE = "NATS-tss-v1_0-3ffb9-simple.tar"
# The authors' Google Drive file (id as linked from the NATS-Bench README); the usercontent
# endpoint with confirm=t skips Drive's "cannot scan for viruses" page for large files.
DEFAULT_URL = ("https://drive.usercontent.google.com/download"
               "?id=17_saCsj_krKjlCBLOJEpNtzPXArMCqxU&export=download&confirm=t")
# Size and SHA-256 of that archive as pinned by other projects' verified downloaders; this
# machine has no network, so they were not re-measured here (override: AUTOML_NAS_NB201_SHA256,
# "none" to skip the check).
SIZE = 1_145_989_120
SHA256 = "580fd8f3425fed9f495640b0f12ccb7744f89dec7aff263bd75aed37ab0b8bb6"
MANUAL = (f"download {ARCHIVE} (or NAS-Bench-201-v1_1-096897.pth) from the links in "
          "https://github.com/D-X-Y/NATS-Bench on a machine with internet, unpack it, then run "
          "`automl bench import nb201 PATH/NATS-tss-v1_0-3ffb9-simple`")


# errno values of a failure on this machine's disk rather than on the network
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def _cannot_write(what: str, store: TableStore, exc: OSError) -> DataError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return DataError(f"bench fetch nb201: cannot write {what} into {store.root} ({reason})",
                     hint=f"the fetch needs about {2 * SIZE / 1e9:.1f} GB free there while it runs (the archive and "
                          "its unpacked copy; only the imported table is kept): free space or set AUTOML_NAS_HOME to "
                          "a disk with room, or " + MANUAL)


def _probe(url: str, timeout: float = 5.0) -> None:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise DataError(f"bench fetch nb201: cannot reach {parts.hostname} ({type(exc).__name__}: {exc}); "
                        "no network?", hint=MANUAL) from None


def _download(url: str, target: Path, progress: Any) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - the URL is ours or the user's
        if "text/html" in response.headers.get("Content-Type", ""):
            raise DataError(f"bench fetch nb201: {url} answered with a web page instead of {ARCHIVE} "
                            "(the host asks for a confirmation)", hint=MANUAL)
        total = int(response.headers.get("Content-Length") or 0) or (SIZE if url == DEFAULT_URL else 0)
        done = 0
        with open(target, "wb") as fh:
            for block in iter(lambda: response.read(1 << 20), b""):
                fh.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return digest.hexdigest()


def _unpack(archive: Path, into: Path) -> None:
    """Extract regular files and directories only, all inside ``into`` (tarfile's "data" filter)."""
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # Python < 3.10.12 / 3.11.4: no extraction filters; check by hand
            root = into.resolve()
            for member in tar.getmembers():
                target = (into / member.name).resolve()
                if not (member.isfile() or member.isdir()) or root not in (target, *target.parents):
                    raise DataError(f"bench fetch nb201: {archive.name} holds an unsafe entry {member.name!r}",
                                    hint=MANUAL) from None
            tar.extractall(into)


def fetch_nb201(table: Any, store: TableStore, progress: Any = None) -> Manifest:
    """Download, check, unpack and import; only the stored table is kept."""
    url = os.environ.get("AUTOML_NAS_NB201_URL", DEFAULT_URL)
    expected = os.environ.get("AUTOML_NAS_NB201_SHA256", SHA256 if url == DEFAULT_URL else "none")
    _probe(url)
    try:
        store.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".fetch-nb201.", dir=store.root))
    except OSError as exc:
        raise _cannot_write("the download", store, exc) from None
    try:
        archive = work / ARCHIVE
        try:
            sha = _download(url, archive, progress)
        except OSError as exc:
            if exc.errno in _LOCAL_ERRNOS:
                raise _cannot_write(ARCHIVE, store, exc) from None
            raise DataError(f"bench fetch nb201: download from {url} failed ({type(exc).__name__}: {exc})",
                            hint=MANUAL) from exc
        if expected.lower() != "none" and sha != expected.lower():
            raise DataError(f"bench fetch nb201: {ARCHIVE} has SHA-256 {sha}, expected {expected}",
                            hint="retry (the download may be damaged), or " + MANUAL)
        try:
            _unpack(archive, work)
        except OSError as exc:
            raise _cannot_write(f"the unpacked {ARCHIVE}", store, exc) from None
        archive.unlink()
        found = sorted(p.parent for p in work.rglob("meta.pickle.pbz2"))
        if not found:
            raise DataError(f"bench fetch nb201: {ARCHIVE} holds no NATS-Bench '-simple' directory", hint=MANUAL)
        return table.import_from(found[0], store, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
