"""Options of the NAS-Bench-Graph table (light: attrs only)."""

from __future__ import annotations

import attrs

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
