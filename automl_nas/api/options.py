"""Metadata a component's config fields may carry, read by the host (any component kind)."""

from __future__ import annotations

__all__ = ["INPUT_FILE"]

#: Metadata key of a component option (an attrs field of any component's config) that names a
#: file the run reads (a latency table, a data file). A run records each such file's SHA-256
#: in ``env.json``; ``--resume`` refuses a file that changed since, naming the option: the
#: resumed run would not continue the same search.
#:
#: .. versionadded:: 0.2
INPUT_FILE = "input_file"
