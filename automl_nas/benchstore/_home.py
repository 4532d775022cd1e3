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
