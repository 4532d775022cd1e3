"""NAS-Bench-Graph in the benchmark store: listed by ``automl bench list`` like every table a
recipe can name. Its files ship inside the ``nas-bench-graph`` package (read safely by
:mod:`automl_nas_eval_nasbench_graph.table`), so there is nothing to import or fetch."""

from __future__ import annotations

from pathlib import Path

from automl_nas.benchstore import BenchmarkTable, Manifest, Progress, TableStatus, TableStore
from automl_nas.errors import DataError

__all__ = ["NasBenchGraphBenchmark"]


class NasBenchGraphBenchmark(BenchmarkTable):
    name = "nas-bench-graph"
    summary = "NAS-Bench-Graph: valid/test performance, latency, params of 26,206 GNNs on 9 graph data sets (embedded)"

    def how_to_get(self) -> str:
        return "pip install nas-bench-graph==1.4.0 (embedded; nothing to import)"

    def status(self, store: TableStore) -> TableStatus:
        from automl_nas_eval_nasbench_graph.table import bench_dir

        try:
            folder = bench_dir()
        except DataError:
            return TableStatus(installed=False, how=self.how_to_get())
        files = sorted(folder.glob("*.bench"))
        if not files:
            return TableStatus(installed=False, how=self.how_to_get())
        return TableStatus(installed=True, where=str(folder),
                           detail=f"embedded in the nas-bench-graph package: {', '.join(f.stem for f in files)}")

    def import_from(self, source: Path, store: TableStore, progress: Progress | None = None) -> Manifest:
        raise DataError("nas-bench-graph is embedded in the nas-bench-graph package; there is nothing to import",
                        hint="pip install nas-bench-graph==1.4.0; the evaluator's `path = ...` reads another folder "
                             "of <dataset>.bench files")
