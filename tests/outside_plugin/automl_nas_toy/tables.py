"""A third-party benchmark table: ``automl bench import toy-table scores.csv`` (``genotype,score``)."""

from __future__ import annotations

import csv
from pathlib import Path

from automl_nas.benchstore import BenchmarkTable, Manifest, TableStore
from automl_nas.errors import DataError


class ToyTable(BenchmarkTable):
    name = "toy-table"
    summary = "toy genotype -> score"

    def import_from(self, source: Path, store: TableStore, progress=None) -> Manifest:
        if not source.is_file():
            what = "is a directory, not a CSV file" if source.is_dir() else "does not exist"
            raise DataError(f"{source} {what}", hint="pass a CSV with the columns genotype,score")
        with open(source, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or set(rows[0]) != {"genotype", "score"}:
            raise DataError(f"{source}: expected the columns genotype,score", hint="write a CSV with a header genotype,score")
        for done in range(len(rows)):
            if progress:
                progress(done + 1, len(rows))
        return store.write(self.name, [r["genotype"] for r in rows], {"score": [float(r["score"]) for r in rows]},
                           source=source.name, source_kind="toy-csv")
