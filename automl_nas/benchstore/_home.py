"""Where automl-nas keeps downloaded and imported files: ``$AUTOML_NAS_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "~/.cache/automl-nas"
#: What a data plugin's ``root`` option defaults to (or a folder under it); :func:`data_dir` moves it.
DEFAULT_DATA_ROOT = f"{DEFAULT_HOME}/data"
#: Moves the benchmark store alone (a cluster trial runs with the driver's tables unpacked there).
STORE_ENV = "AUTOML_NAS_BENCHMARKS"


def automl_home() -> Path:
    """``$AUTOML_NAS_HOME``, else ``~/.cache/automl-nas`` (read at call time, never at import)."""
    return Path(os.environ.get("AUTOML_NAS_HOME") or DEFAULT_HOME).expanduser()


def store_root() -> Path:
    """The benchmark-table cache: ``$AUTOML_NAS_BENCHMARKS``, else ``<home>/benchmarks``."""
    override = os.environ.get(STORE_ENV)
    return Path(override).expanduser() if override else automl_home() / "benchmarks"


def store_variable() -> str:
    """The environment variable that places the store now, for hints that say how to move it."""
    return STORE_ENV if os.environ.get(STORE_ENV) else "AUTOML_NAS_HOME"


def data_root() -> Path:
    """The data-set cache: ``<home>/data``."""
    return automl_home() / "data"


def data_dir(root: str) -> Path:
    """A data plugin's ``root`` option as a directory: the default cache (:data:`DEFAULT_DATA_ROOT`
    or a folder under it) moves under ``$AUTOML_NAS_HOME/data`` when that is set; any other
    path is the user's own, kept as given."""
    if root == DEFAULT_DATA_ROOT or root.startswith(DEFAULT_DATA_ROOT + "/"):
        return data_root() / root[len(DEFAULT_DATA_ROOT):].lstrip("/")
    return Path(root).expanduser()


def file_in_the_way(directory: Path, root: Path, *, component: str, holds: str, default_root: bool) -> Exception | None:
    """A :class:`~automl_nas.errors.DataError` when ``directory`` (under a data plugin's ``root``)
    or a folder above it is a file (``AUTOML_NAS_HOME`` itself, often): neither a download nor
    a copy into it can work, so the usual fix (``download = true``, copy the files in) could not
    be followed. ``holds``: what ``root`` should contain; ``default_root``: the option is unset."""
    from automl_nas.errors import DataError

    for place in (directory, *directory.parents):
        if place.exists() and not place.is_dir():
            said = "data root" if place in (root, directory) else "a folder above the data root"
            home = ", or AUTOML_NAS_HOME to a directory (the data goes into its data/)" if default_root else ""
            return DataError(f"{component}: {said} {place} is a file, not a directory",
                             hint=f"set `root = ...` to the directory that contains (or will hold) {holds}{home}")
    return None
