"""Network morphism search (Auto-Keras) against the baselines, at equal training budget (issue 18).

1. Macro CNN space on real images (default: the project's 5k CIFAR-10 file, 20 % held out as the
   test split): ``morphism`` proposer + warm-started retraining (each child trains ``--epochs``
   epochs from its parent's weights) against random search over the space's one-shot view,
   each network trained ``--epochs`` epochs from scratch. Both train ``--queries`` networks of
   ``--epochs`` epochs each: the same number of training epochs. Reported over ``--seeds`` seeds:
   the best test accuracy found, and the training seconds spent.
2. NAS-Bench-201 table: ``morphism`` against REA (P = 10, S = 3) and random search, ``--nb201-queries``
   queries, over ``--nb201-seeds`` seeds. The installed table (``automl bench import nb201 FILE``)
   or ``--table FILE``; a table with only test accuracies is searched by them (optimistic, as
   ``benchmarks/blackbox_nb201.py --test-selection``), which the output says.

Usage:
  python benchmarks/morphism.py [--data ../shared/data/cifar10-5k.npz] [--seeds 3] [--queries 8] [--epochs 2]
  AUTOML_NAS_HOME=... python benchmarks/morphism.py --skip-macro     # the table part only
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from automl_nas.api.evaluator import EvalContext
from automl_nas.session import open_session

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-5k.npz")


def macro_rows(data, *, seeds: int, queries: int, epochs: int, channels: int = 16, stages: int = 3,
               batch_size: int = 64, lr: float = 0.05, threads: int = 0, log=print) -> dict[str, dict]:
    """``{method: {"best": [per seed], "train_s": [per seed], "epochs": [per seed]}}`` for
    ``morphism+warm`` and ``random+scratch`` on the macro space."""
    from automl_nas.study.blackbox import run_blackbox
    from automl_nas_blackbox.config import MorphismConfig
    from automl_nas_eval_retrain.config import RetrainConfig
    from automl_nas_space_macro.config import MacroConfig

    registry = open_session().registry
    space = registry.create("search_space", "macro", MacroConfig(channels=channels, stages=stages, slots=2,
                                                                max_width=8 * channels, max_layers=10))
    methods = {"morphism+warm": ("morphism", MorphismConfig(), True), "random+scratch": ("random", None, False)}
    rows: dict[str, dict] = {}
    for label, (proposer_name, proposer_cfg, warm) in methods.items():
        rows[label] = {"best": [], "train_s": [], "epochs": []}
        for seed in range(seeds):
            evaluator = registry.create("evaluator", "retrain", RetrainConfig(
                epochs=epochs, batch_size=batch_size, lr=lr, warm_start=warm, threads=threads))
            proposer = registry.create("proposer", proposer_name, proposer_cfg)
            with tempfile.TemporaryDirectory() as run_dir:
                ctx = EvalContext(space=space, data=data, seed=seed, run_dir=run_dir, log=lambda m: None)
                spent = []
                out = run_blackbox(space, proposer, _Timed(evaluator, spent), ctx, queries, seed=seed, metric="test_acc")
            rows[label]["best"].append(out["best_value"])
            rows[label]["train_s"].append(sum(spent))
            rows[label]["epochs"].append(queries * epochs)
            log(f"  {label:<15} seed {seed}: best {out['best_value']:.2f} %  {out['best_genotype']}  "
                f"({sum(spent):.0f} s training)")
    return rows


class _Timed:
    """The evaluator, recording each query's training seconds."""

    def __init__(self, evaluator, spent: list) -> None:
        self.evaluator, self.spent = evaluator, spent
        self.name, self.metrics, self.higher_is_better = evaluator.name, evaluator.metrics, evaluator.higher_is_better

    def evaluate(self, genotype, ctx):
        metrics = self.evaluator.evaluate(genotype, ctx)
        self.spent.append(metrics["train_time_s"])
        return metrics


def nb201_rows(*, seeds: int, queries: int, table: str | None = None) -> tuple[dict[str, list[float]], str]:
    """``({proposer: [best per seed]}, metric)`` on the NAS-Bench-201 table, selected by the
    12-epoch validation accuracy when the table has it (reporting test), else by test."""
    from automl_nas.study.blackbox import run_blackbox
    from automl_nas_eval_tabular.config import TableConfig
    from automl_nas_eval_tabular.preflight import available_columns

    columns, _ = available_columns(TableConfig(path=table))
    protocol = "cifar10_valid_12ep" in columns
    metric, report = ("cifar10_valid_12ep", "cifar10") if protocol else ("cifar10", "")
    registry = open_session().registry
    space = registry.create("search_space", "nb201")
    evaluator = registry.create("evaluator", "nb201-table", TableConfig(path=table, metrics=tuple(filter(None, (metric, report)))))
    rows: dict[str, list[float]] = {}
    for name in ("morphism", "rea", "random"):
        rows[name] = []
        for seed in range(seeds):
            out = run_blackbox(space, registry.create("proposer", name), evaluator, EvalContext(space=space), queries,
                               seed=seed, metric=metric, report=report)
            rows[name].append(out["best_report"] if report else out["best_value"])
    return rows, ("selected by cifar10_valid_12ep, CIFAR-10 test %" if protocol
                  else "OPTIMISTIC: selected by the test column itself (the table has no validation accuracies)")


def _mean_sd(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f} ± {statistics.pstdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help=".npz with CIFAR-10 images (x, y)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=8, help="networks trained per search (both methods)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trained network (both methods)")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--nb201-seeds", type=int, default=10)
    parser.add_argument("--nb201-queries", type=int, default=50)
    parser.add_argument("--table", help="NB201 CSV/Parquet instead of the installed table")
    parser.add_argument("--skip-macro", action="store_true")
    parser.add_argument("--skip-nb201", action="store_true")
    args = parser.parse_args()

    if not args.skip_macro:
        from automl_nas_data_vision.config import NpzConfig

        data = open_session().registry.create("dataset", "npz", NpzConfig(path=args.data, test_fraction=0.2)).load()
        print(f"macro space, {len(data.train_y)} training / {len(data.test_y)} test images ({args.data}); "
              f"{args.queries} networks x {args.epochs} epochs per search, {args.seeds} seeds")
        started = time.perf_counter()
        rows = macro_rows(data, seeds=args.seeds, queries=args.queries, epochs=args.epochs, channels=args.channels,
                          threads=args.threads)
        print(f"{'method':<16} {'best test acc %':>16} {'epochs':>7} {'train s':>9}")
        for label, row in rows.items():
            print(f"{label:<16} {_mean_sd(row['best']):>16} {row['epochs'][0]:>7d} {statistics.fmean(row['train_s']):>9.0f}")
        print(f"({time.perf_counter() - started:.0f} s)")
    if not args.skip_nb201:
        rows, how = nb201_rows(seeds=args.nb201_seeds, queries=args.nb201_queries, table=args.table)
        print(f"NAS-Bench-201 table, {args.nb201_queries} queries, {args.nb201_seeds} seeds ({how})")
        for name, finals in rows.items():
            print(f"  {name:<10} {_mean_sd(finals)}")


if __name__ == "__main__":
    main()
