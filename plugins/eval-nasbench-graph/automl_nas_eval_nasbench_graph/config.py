"""Options of the NAS-Bench-Graph table (light: attrs only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from automl_nas_space_gnn.encoding import PROTEINS_OPS  # torch-free, as this module must be

__all__ = ["DATASETS", "NbgConfig"]

#: the benchmark's data sets (file stems of its light/*.bench tables) -> published name
DATASETS = {
    "cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed", "cs": "Coauthor-CS", "physics": "Coauthor-Physics",
    "photo": "Amazon-Photo", "computers": "Amazon-Computers", "arxiv": "ogbn-arXiv", "proteins": "ogbn-proteins",
}


@attrs.frozen(kw_only=True)
class NbgConfig:
    """Options of ``[evaluator] name = "nas-bench-graph"``."""

    dataset: str = attrs.field(default="cora", validator=attrs.validators.in_(tuple(DATASETS)),
                               metadata={"help": f"benchmark table: {', '.join(DATASETS)}"})
    path: str = attrs.field(default="", metadata={"help": "directory of <dataset>.bench files (default: the installed "
                                                          "nas-bench-graph package's light/ tables)"})

    def table_file(self) -> Path:
        """The ``.bench`` file this evaluator reads (found without importing nas-bench-graph)."""
        from automl_nas_eval_nasbench_graph.table import bench_dir

        return Path(self.path).expanduser() / f"{self.dataset}.bench" if self.path else bench_dir() / f"{self.dataset}.bench"

    def preflight(self, component: str) -> None:
        """The table file is there (a missing one surfaced as the run's eval_error, after the search)."""
        from automl_nas.errors import DataError, missing_file

        table = self.table_file()
        if not table.is_file():
            fix = (f"point `path` at the folder that holds {self.dataset}.bench (nas-bench-graph's light/ folder), or "
                   f"remove `path` for the installed package's tables" if self.path else
                   "reinstall nas-bench-graph==1.4.0 (its light/<dataset>.bench files) or set `path` to a folder of "
                   "intact copies")
            raise DataError(f"{component}: NAS-Bench-Graph table {self.dataset!r}: {missing_file(table)}", hint=fix)

    def check_space(self, space: str, options: Any) -> None:
        """The ogbn-proteins table covers five of the nine ops: a search over all nine would end
        in an architecture it has no row for (found only after the search)."""
        ops = getattr(options, "ops", None)
        if space == "gnn" and self.dataset == "proteins" and ops != "proteins":
            raise ValueError(f"the ogbn-proteins table covers only the ops {', '.join(PROTEINS_OPS)}, and the space "
                             f"searches all nine (space.ops = {ops!r}); set [space] ops = \"proteins\"")
