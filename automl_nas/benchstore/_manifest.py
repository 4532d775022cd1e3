"""The manifest written beside every stored table: where it came from and what it holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from automl_nas.errors import DataError

#: Bump when the table layout changes; a store entry of another version is reported as stale.
FORMAT_VERSION = 1


@attrs.frozen(kw_only=True)
class Manifest:
    """``manifest.json`` of one stored table.

    Attributes:
        name: the table's name (``nb201``).
        format_version: :data:`FORMAT_VERSION` of the writer.
        source: file name of what was imported or fetched (``NATS-tss-v1_0-3ffb9-simple``).
        source_kind: the reader that understood it (``nats-simple``, ``nats-pbz2``, ``nb201-pth``, ``csv``, ...).
        source_sha256: checksum of the source file (of ``meta.pickle.pbz2`` for a directory).
        rows: number of cells.
        columns: the value columns (the key column ``arch`` is not listed).
        created_at: ISO-8601 UTC time of the import.
        notes: caveats worth showing the user (e.g. "no validation accuracies in the source").
    """

    name: str
    format_version: int = FORMAT_VERSION
    source: str = ""
    source_kind: str = ""
    source_sha256: str = ""
    rows: int = 0
    columns: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    created_at: str = ""
    notes: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Read ``path`` tolerating unknown keys (newer writers may add some)."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in attrs.fields(cls)}
            manifest = cls(**{k: v for k, v in raw.items() if k in known})
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"{path}: unreadable benchmark manifest ({type(exc).__name__}: {exc})",
                            hint=f"delete {path.parent} and import the table again (`automl bench import ...`)") from exc
        if manifest.format_version != FORMAT_VERSION:  # a newer writer's layout may mean other columns
            newer = manifest.format_version > FORMAT_VERSION if isinstance(manifest.format_version, int) else False
            raise DataError(f"{path}: the table was stored in format {manifest.format_version!r}; this automl-nas "
                            f"reads format {FORMAT_VERSION}",
                            hint=("upgrade automl-nas, or " if newer else "") + f"import the table again with this "
                                 f"version (`automl bench import {path.parent.name} PATH`)")
        return manifest
