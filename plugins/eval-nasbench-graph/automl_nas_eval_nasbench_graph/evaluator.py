"""The ``nas-bench-graph`` evaluator: a GNN genotype's row of a NAS-Bench-Graph table
(Qin et al., NeurIPS 2022 Datasets and Benchmarks, arXiv:2206.09166).

Metrics: ``valid_perf`` and ``test_perf`` in % (accuracy; ROC-AUC on ogbn-proteins),
``latency`` (seconds of one full-graph inference, as measured by the benchmark),
``params`` (count) and ``in_table`` (1). The genotype is keyed exactly like the
package (``Arch.valid_hash``), so isomorphic architectures share a row.

The four-skip networks (nine points of the space) have no row: the package maps them
to the sentinel hash 88888 and its own NNI example scores them 0. They are scored
0 here too, with ``in_table = 0``, so that a proposer can draw them without ending the run.
"""

from __future__ import annotations

from typing import Any

from automl_nas import DataError, RecipeError
from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas_eval_nasbench_graph.config import DATASETS, NbgConfig
from automl_nas_eval_nasbench_graph.table import Entry, load_table
from automl_nas_space_gnn.encoding import OPS, PROTEINS_OPS, benchmark_hash, parse_arch

__all__ = ["NasBenchGraph", "ALL_SKIP_HASH"]

ALL_SKIP_HASH = 88888


class NasBenchGraph(Evaluator):
    name = "nas-bench-graph"
    metrics = ("valid_perf", "test_perf", "latency", "params")
    higher_is_better = True

    def __init__(self, config: NbgConfig | None = None) -> None:
        self.config = config or NbgConfig()

    @property
    def table(self) -> dict[int, Entry]:
        return load_table(self.config.path, self.config.dataset)

    def check(self, space: Any, data: Any) -> None:
        if getattr(space, "name", "gnn") != "gnn":
            raise RecipeError(f"evaluator 'nas-bench-graph' scores architectures of the 'gnn' space, not "
                              f"{space.name!r}", hint='use [space] name = "gnn", or an evaluator of that space')

    def evaluate(self, genotype: Genotype, ctx: EvalContext | None = None) -> dict[str, float]:
        if getattr(genotype, "space", "gnn") != "gnn":
            raise RecipeError(f"evaluator 'nas-bench-graph' scores architectures of the 'gnn' space, not {genotype.space!r}",
                              hint='use [space] name = "gnn"')
        link, ops = parse_arch(str(genotype))
        key = benchmark_hash(link, ops)
        if key == ALL_SKIP_HASH:
            return {"valid_perf": 0.0, "test_perf": 0.0, "latency": 0.0, "params": 0.0, "in_table": 0.0}
        entry = self.table.get(key)
        if entry is None:
            raise DataError(self._missing(genotype, ops, key),
                            hint='use [space] ops = "proteins" for the ogbn-proteins table' if self.config.dataset == "proteins"
                            else "check that the table file is the package's own")
        return {"valid_perf": 100.0 * entry["valid_perf"], "test_perf": 100.0 * entry["perf"],
                "latency": entry["latency"], "params": 1e6 * entry["para"], "in_table": 1.0}

    def _missing(self, genotype: Genotype, ops: tuple[str, ...], key: int) -> str:
        table = f"NAS-Bench-Graph table {self.config.dataset!r} ({DATASETS[self.config.dataset]})"
        outside = sorted(set(ops) - set(PROTEINS_OPS if self.config.dataset == "proteins" else OPS))
        if outside:
            return f"{table} covers only the ops {', '.join(PROTEINS_OPS)}; {genotype.text} uses {', '.join(outside)}"
        return f"{table} has no row for {genotype.text} (hash {key})"

    def optimum(self, metric: str = "perf") -> float:
        """The best value of a raw table column (``perf``, ``valid_perf``) in %: the table's optimum."""
        return 100.0 * max(entry[metric] for entry in self.table.values())
