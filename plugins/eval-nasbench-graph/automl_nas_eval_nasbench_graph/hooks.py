"""Contribution hooks of the NAS-Bench-Graph table plugin: descriptors only."""

from __future__ import annotations

from automl_nas import Component, hookimpl
from automl_nas_eval_nasbench_graph.config import NbgConfig


@hookimpl
def automl_register_evaluators() -> list[Component]:
    return [
        Component(kind="evaluator", name="nas-bench-graph", impl="automl_nas_eval_nasbench_graph.evaluator:NasBenchGraph",
                  config=NbgConfig,
                  summary="NAS-Bench-Graph table lookup: valid/test performance, latency, params on 9 graph data sets"),
    ]


@hookimpl
def automl_register_benchmarks() -> list[Component]:
    return [Component(kind="benchmark", name="nas-bench-graph", impl="automl_nas_eval_nasbench_graph.bench:NasBenchGraphBenchmark",
                      summary="NAS-Bench-Graph tables of 9 graph data sets (embedded in the nas-bench-graph package)")]
