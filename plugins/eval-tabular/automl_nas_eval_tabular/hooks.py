"""Contribution hooks of the eval-tabular plugin: descriptors only, no torch import."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_eval_tabular.config import AnalogConfig, NatsConfig, TableConfig

_PKG = "automl_nas_eval_tabular"


@hookimpl
def automl_register_evaluators() -> list[Component]:
    return [
        Component(kind="evaluator", name="nb201-table", impl=f"{_PKG}.table:Nb201Table", config=TableConfig,
                  summary="NAS-Bench-201 lookup in a CSV/Parquet table (arch -> metric columns)"),
        Component(kind="evaluator", name="nats-bench", impl=f"{_PKG}.nats:NatsBench", config=NatsConfig,
                  summary="NATS-Bench / NAS-Bench-201 API files (pip install nats_bench)"),
        Component(kind="evaluator", name="analog-nasbench", impl=f"{_PKG}.analog:AnalogNasBench", config=AnalogConfig,
                  summary="AnalogNAS-Bench accuracies of NB201 cells (embedded, from the analog-nasbench package)"),
    ]


@hookimpl
def automl_register_benchmarks() -> list[Component]:
    return [
        Component(kind="benchmark", name="nb201", impl=f"{_PKG}.bench:Nb201Benchmark",
                  summary="NAS-Bench-201 / NATS-Bench topology results of all 15,625 cells (import or fetch)"),
        Component(kind="benchmark", name="analog-nasbench", impl=f"{_PKG}.bench:AnalogBenchmark",
                  summary="AnalogNAS-Bench accuracies of NB201 cells (embedded in analog-nasbench)"),
    ]
