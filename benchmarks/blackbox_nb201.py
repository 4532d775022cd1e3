"""Black-box proposers on the NAS-Bench-201 table, in the benchmark's own protocol.

Protocol (NAS-Bench-201, Dong & Yang, ICLR 2020, §5; NATS-Bench ``simulate_train_eval``):
each proposer is told the 12-epoch *validation* accuracy of CIFAR-10 (``cifar10_valid_12ep``: the
mean over the training seeds, where ``simulate_train_eval`` draws one seed's per query, a noisier
signal; the figures here can be slightly better than the published curves),
picks its final cell by it, and we report that cell's 200-epoch *test* accuracy
(``cifar10``); the budget is 12,000 s of *simulated* time, each query costing the table's
``cifar10_time_12ep``. This needs a table imported from an official file
(``automl bench import nb201 NATS-tss-v1_0-3ffb9-simple``); the project's CSV has test
accuracies only, and the script refuses it unless ``--test-selection`` is given, which runs
the old optimistic protocol (select by the test column itself, 100 queries) and says so.

Usage:
  AUTOML_NAS_HOME=... python benchmarks/blackbox_nb201.py [--reps 50] [--budget 12000]
  python benchmarks/blackbox_nb201.py --table ../shared/benchmarks/nb201-test-accuracy.csv --test-selection
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from automl_nas.api.evaluator import EvalContext
from automl_nas.session import open_session

PROPOSERS = ("random", "rea", "reinforce", "tpe")
PUBLISHED = {"random": "93.70 ± 0.36 (RS)", "rea": "93.92 ± 0.30", "reinforce": "93.85 ± 0.37", "tpe": "— (BOHB 93.61 ± 0.52)"}
VALID, TEST, COST = "cifar10_valid_12ep", "cifar10", "cifar10_time_12ep"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--budget", type=float, default=12000.0, help="simulated seconds per search (protocol run)")
    parser.add_argument("--queries", type=int, default=100, help="queries per search (--test-selection run)")
    parser.add_argument("--table", help="CSV/Parquet file instead of the installed table")
    parser.add_argument("--test-selection", action="store_true",
                        help="select by the test column (optimistic; for tables without validation accuracies)")
    parser.add_argument("--out", default="blackbox_nb201.png")
    args = parser.parse_args()

    from automl_nas.study.blackbox import run_blackbox
    from automl_nas_eval_tabular.config import TableConfig
    from automl_nas_eval_tabular.preflight import available_columns

    columns, where = available_columns(TableConfig(path=args.table))
    protocol = not args.test_selection
    if protocol and not {VALID, COST} <= set(columns):
        sys.exit(f"{where} has no {VALID}/{COST} columns (columns: {list(columns)}): import an official file "
                 "(`automl bench import nb201 NATS-tss-v1_0-3ffb9-simple`) or pass --test-selection")
    metrics = (VALID, TEST, COST) if protocol else (TEST,)
    registry = open_session().registry
    space = registry.create("search_space", "nb201")
    table = registry.create("evaluator", "nb201-table", TableConfig(path=args.table, metrics=metrics))
    ctx = EvalContext(space=space)
    if protocol:
        print(f"protocol: select by {VALID}, report {TEST}, {args.budget:.0f} s simulated ({COST}); table {where}")
    else:
        print(f"OPTIMISTIC protocol: select by the test column {TEST} itself, {args.queries} queries; table {where}")
    curves = {}
    print(f"{'proposer':<10} {'chosen cell (C10 test %)':>25} {'queries':>8} {'s/rep':>7}   NAS-Bench-201 published")
    for name in PROPOSERS:
        finals, counts, runs, started = [], [], [], time.perf_counter()
        for rep in range(args.reps):
            proposer = registry.create("proposer", name)
            if protocol:
                out = run_blackbox(space, proposer, table, ctx, 0, args.budget, metric=VALID, report=TEST, cost=COST,
                                   seed=rep)
                finals.append(out["best_report"])
                runs.append(out["report_curve"])
            else:
                out = run_blackbox(space, proposer, table, ctx, args.queries, metric=TEST, seed=rep)
                finals.append(out["best_value"])
                runs.append(out["curve"])
            counts.append(out["queries"])
        n = min(len(c) for c in runs)
        curves[name] = [statistics.fmean(c[i] for c in runs) for i in range(n)]
        per_rep = (time.perf_counter() - started) / args.reps
        print(f"{name:<10} {statistics.fmean(finals):>16.2f} ± {statistics.pstdev(finals):.2f} "
              f"{statistics.fmean(counts):>8.1f} {per_rep:>7.2f}   {PUBLISHED[name]}")
    for name, curve in curves.items():
        marks = ", ".join(f"{q}: {curve[q - 1]:.2f}" for q in (10, 25, 50, 100) if q <= len(curve))
        print(f"mean test acc of the chosen cell after k queries, {name:<10} {marks}")
    _plot(curves, args.out)
    print(f"curves saved to {args.out}")


def _plot(curves: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, label=name)
    ax.axhline(94.37, color="grey", linestyle=":", label="optimum 94.37")
    ax.set_xlabel("queries")
    ax.set_ylabel("CIFAR-10 test accuracy of the chosen cell (%)")
    ax.set_ylim(90, 94.5)
    ax.legend()
    ax.set_title("NAS-Bench-201, mean over repetitions")
    fig.savefig(path, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    main()
