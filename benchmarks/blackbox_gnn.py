"""Black-box search on the NAS-Bench-Graph tables: RS and REA, 100 queries x 20 repeats, 9 data sets.

Protocol (the benchmark's): a proposer is told each queried architecture's *validation*
performance; the run's pick is the architecture with the best validation performance, and
its *test* performance is reported (mean ± std over repeats, in %; ROC-AUC on ogbn-proteins,
accuracy elsewhere). "optimum" is the table's best test performance, "top 1 %" the test
performance of the 99th percentile of the table's architectures, and "hit" the share of
repeats whose pick is at or above it. "REA v-hit" is the share of REA picks in the top 1 % by
*validation* (how well the search does its job) and "ceiling" the share of the table's top-1 %-
by-validation architectures that are also top 1 % by test (what selecting by validation can
reach at best). ogbn-proteins uses the 5-op space its table covers.

Usage: python benchmarks/blackbox_gnn.py [--reps 20] [--queries 100] [--datasets cora,citeseer]
"""

from __future__ import annotations

import argparse
import statistics
import time

from automl_nas.api.evaluator import EvalContext
from automl_nas.session import open_session

PROPOSERS = ("random", "rea")


def run(registry, dataset: str, proposer_name: str, reps: int, queries: int) -> dict:
    from automl_nas.study.blackbox import run_blackbox
    from automl_nas_eval_nasbench_graph.config import NbgConfig
    from automl_nas_space_gnn.config import GnnConfig

    space = registry.create("search_space", "gnn", GnnConfig(ops="proteins" if dataset == "proteins" else "all"))
    table = registry.create("evaluator", "nas-bench-graph", NbgConfig(dataset=dataset))
    rows = list(table.table.values())
    top1, vtop1 = _percentile99([100.0 * e["perf"] for e in rows]), _percentile99([100.0 * e["valid_perf"] for e in rows])
    best_valid = [e for e in rows if 100.0 * e["valid_perf"] >= vtop1]
    picks, valid_picks = [], []
    for rep in range(reps):
        proposer = registry.create("proposer", proposer_name)
        out = run_blackbox(space, proposer, table, EvalContext(space=space), queries, metric="valid_perf", seed=rep)
        picks.append(table.evaluate(space.parse(out["best_genotype"]))["test_perf"])
        valid_picks.append(out["best_value"])
    return {"mean": statistics.fmean(picks), "std": statistics.pstdev(picks), "optimum": 100.0 * max(e["perf"] for e in rows),
            "top1": top1, "hit": sum(p >= top1 for p in picks) / reps, "valid_hit": sum(v >= vtop1 for v in valid_picks) / reps,
            "ceiling": sum(100.0 * e["perf"] >= top1 for e in best_valid) / len(best_valid)}


def _percentile99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--datasets", default="cora,citeseer,pubmed,cs,physics,photo,computers,arxiv,proteins")
    args = parser.parse_args()

    from automl_nas_eval_nasbench_graph.config import DATASETS

    registry = open_session().registry
    started = time.perf_counter()
    print(f"NAS-Bench-Graph, {args.queries} queries, select by validation, report test (%), "
          f"mean ± std over {args.reps} repeats")
    print(f"{'data set':<18} {'RS':>14} {'REA':>14} {'optimum':>8} {'top 1 %':>8} {'RS hit':>7} {'REA hit':>8} "
          f"{'REA v-hit':>9} {'ceiling':>8}")
    for dataset in args.datasets.split(","):
        res = {name: run(registry, dataset, name, args.reps, args.queries) for name in PROPOSERS}
        rs, rea = res["random"], res["rea"]
        print(f"{DATASETS[dataset]:<18} {rs['mean']:>7.2f} ± {rs['std']:.2f} {rea['mean']:>7.2f} ± {rea['std']:.2f} "
              f"{rs['optimum']:>8.2f} {rs['top1']:>8.2f} {rs['hit']:>7.0%} {rea['hit']:>8.0%} {rea['valid_hit']:>9.0%} "
              f"{rea['ceiling']:>8.0%}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
