"""The benchmark tables this plugin puts in the store (``automl bench``); light to import.

``nb201``: NAS-Bench-201 / NATS-Bench topology results of all 15,625 cells, imported from
any official file or a CSV (:mod:`automl_nas_eval_tabular.nb201_import`), or fetched.
``analog-nasbench``: embedded in the ``analog-nasbench`` package; listed so that
``automl bench list`` shows every table.
"""

from __future__ import annotations

from pathlib import Path

from automl_nas.benchstore import BenchmarkTable, Manifest, Progress, TableStatus, TableStore, file_sha256
from automl_nas.errors import DataError

__all__ = ["AnalogBenchmark", "Nb201Benchmark"]

CELLS = 5**6  # NAS-Bench-201: 5 ops on 6 edges


def _source_checksum(path: Path) -> str:
    target = path / "meta.pickle.pbz2" if path.is_dir() else path
    return file_sha256(target)


class Nb201Benchmark(BenchmarkTable):
    """NAS-Bench-201 (CIFAR-10, CIFAR-100, ImageNet16-120): accuracies, costs and times per cell."""

    name = "nb201"
    summary = "NAS-Bench-201 / NATS-Bench topology: test + validation accuracy, params, FLOPs, latency, train time"

    def how_to_get(self) -> str:
        return ("automl bench fetch nb201 (with internet), or download NATS-tss-v1_0-3ffb9-simple "
                "(or NAS-Bench-201-v1_1-096897.pth) and run `automl bench import nb201 PATH`")

    def import_from(self, source: Path, store: TableStore, progress: Progress | None = None) -> Manifest:
        from automl_nas_eval_tabular.nb201_import import read_source

        kind, (arch, columns, notes) = read_source(source, progress)
        if len(set(arch)) < CELLS:
            notes.append(f"covers {len(set(arch))} of the {CELLS:,} cells: lookups of the others fail")
        return store.write(self.name, arch, columns, source=source.name, source_kind=kind,
                           source_sha256=_source_checksum(source), notes=notes)

    def fetch(self, store: TableStore, progress: Progress | None = None) -> Manifest:
        from automl_nas_eval_tabular.fetch import fetch_nb201

        return fetch_nb201(self, store, progress)


class AnalogBenchmark(BenchmarkTable):
    """AnalogNAS-Bench: CIFAR-10 accuracies of NB201 cells on simulated analog hardware.

    Embedded in the ``analog-nasbench`` package (the ``analog-nasbench`` evaluator reads its
    ``data.anb`` safely, see :mod:`automl_nas_eval_tabular.analog`); listed here so that
    ``automl bench list`` shows every table a recipe can name.
    """

    name = "analog-nasbench"
    summary = "AnalogNAS-Bench CIFAR-10 accuracies of NB201 cells (embedded in the analog-nasbench package)"

    def how_to_get(self) -> str:
        return "pip install analog-nasbench (embedded; nothing to import)"

    def status(self, store: TableStore) -> TableStatus:
        from automl_nas_eval_tabular.analog import default_data_path

        try:
            path = default_data_path()
        except DataError:
            return TableStatus(installed=False, how=self.how_to_get())
        if not path.is_file():
            return TableStatus(installed=False, how=self.how_to_get())
        return TableStatus(installed=True, where=str(path), detail="embedded in the analog-nasbench package")

    def import_from(self, source: Path, store: TableStore, progress: Progress | None = None) -> Manifest:
        raise DataError("analog-nasbench is embedded in the analog-nasbench package; there is nothing to import",
                        hint="pip install analog-nasbench; the evaluator's `path = ...` reads another data.anb")
