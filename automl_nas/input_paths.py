"""How a missing input file is reported: relative paths start at the working directory.

A recipe's relative paths (a latency table, a data file, a benchmark table) are read from the
directory ``automl`` runs in, not from the recipe's directory: that working directory is what
a Ray cluster receives (:func:`automl_nas.execution.sync.ship_runtime_env`), so a path that
works here works on every node. A user who runs a recipe from elsewhere sees a relative path
"not exist" although the file lies next to the recipe; :func:`missing` says where it looked.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["missing"]


def missing(path: str | Path) -> str:
    """``"PATH does not exist"``, and for a relative path where it was looked for and how to
    point at it (the message's first clause, for ``f"{component}: {missing(path)}"``)."""
    text = str(path)
    if Path(text).expanduser().is_absolute():
        return f"{text} does not exist"
    return (f"{text} does not exist in the working directory {os.getcwd()} (a recipe's relative paths start "
            f"where automl runs, which is also what a Ray cluster receives: run automl from the directory the "
            f"path starts at, or give an absolute path)")
