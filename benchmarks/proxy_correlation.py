"""How well do the zero-cost proxies rank NAS-Bench-201 cells? Kendall tau / Spearman rho vs CIFAR-10 test accuracy.

Scores a seeded random sample of NB201 cells with every proxy of the eval-proxies
plugin (built through the plugin registry, like a recipe would), on the CIFAR-10
images of an ``.npz`` file, and prints the rank correlations with the benchmark
table's CIFAR-10 test accuracy plus the time per cell.

Example:
    .venv/bin/python benchmarks/proxy_correlation.py --cells 1000 --channels 8 --batch-size 32

Published figures for comparison (recalled from the papers, not verified here;
full C=16, N=5 networks): SynFlow Spearman about 0.74 and SNIP about 0.6 on
NB201 CIFAR-10 (Abdelfattah et al. 2021); NASWOT Kendall tau about 0.57
(Mellor et al. 2021). Smaller networks and batches (``--channels``,
``--batch-size``) change the figures.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the clone
DEFAULT_DATA = str(SHARED / "data" / "cifar10-5k.npz")
DEFAULT_TABLE = str(SHARED / "benchmarks" / "nb201-test-accuracy.csv")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=1000, help="number of sampled NB201 cells (max 15,625)")
    p.add_argument("--channels", type=int, default=16, help="C of the scored networks (NB201: 16)")
    p.add_argument("--cells-per-stage", type=int, default=5, help="N of the scored networks (NB201: 5)")
    p.add_argument("--batch-size", type=int, default=64, help="images per scoring batch (naswot, snip)")
    p.add_argument("--proxies", default="naswot,synflow,snip", help="comma-separated evaluator names")
    p.add_argument("--data", default=DEFAULT_DATA, help=".npz file with CIFAR-10 images (x, y)")
    p.add_argument("--table", default=DEFAULT_TABLE, help="NB201 table with columns arch, cifar10")
    p.add_argument("--seed", type=int, default=0, help="seed of the cell sample and of the proxies")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    return p.parse_args(argv)


def rank_correlations(x: list[float], y: list[float]) -> tuple[float, float]:
    from scipy import stats

    return float(stats.kendalltau(x, y).statistic), float(stats.spearmanr(x, y).statistic)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from automl_nas.api import EvalContext
    from automl_nas.manager import build_registry, get_plugin_manager
    from automl_nas_eval_tabular.table import load_table

    if args.threads:
        torch.set_num_threads(args.threads)
    registry = build_registry(get_plugin_manager())

    def create(kind: str, name: str, **options):
        return registry.create(kind, name, registry.get(kind, name).config(**options))

    space = create("search_space", "nb201", channels=args.channels, cells_per_stage=args.cells_per_stage)
    data = create("dataset", "npz", path=args.data).load()
    names = [n.strip() for n in args.proxies.split(",") if n.strip()]
    proxies = {n: create("evaluator", n, **({} if n == "synflow" else {"batch_size": args.batch_size})) for n in names}
    columns, table = load_table(args.table)
    column = columns.index("cifar10")

    cells = random.Random(args.seed).sample(range(space.size()), min(args.cells, space.size()))
    ctx = EvalContext(space=space, data=data, seed=args.seed, log=lambda s: None)
    scores: dict[str, list[float]] = {n: [] for n in names}
    seconds = {n: 0.0 for n in names}
    accuracy: list[float] = []
    print(f"# {len(cells)} NB201 cells, C={args.channels}, N={args.cells_per_stage}, batch {args.batch_size}, "
          f"{len(data.train_y)} images from {args.data}, torch threads {torch.get_num_threads()}", flush=True)
    start = time.perf_counter()
    for i, index in enumerate(cells, start=1):
        genotype = space.decode(index)
        accuracy.append(table[genotype.text][column])
        for n, ev in proxies.items():
            t0 = time.perf_counter()
            scores[n].append(ev.evaluate(genotype, ctx)[n])
            seconds[n] += time.perf_counter() - t0
        if i % 100 == 0 or i == len(cells):
            print(f"#   {i}/{len(cells)} cells, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    print(f"{'proxy':<10} {'kendall_tau':>11} {'spearman_rho':>12} {'s/cell':>8} {'non-finite':>10}")
    for n in names:
        values = scores[n]
        bad = sum(1 for v in values if not math.isfinite(v))
        tau, rho = rank_correlations(values, accuracy)  # ranks: -inf sorts lowest, as a score should
        print(f"{n:<10} {tau:>11.4f} {rho:>12.4f} {seconds[n] / len(cells):>8.3f} {bad:>10d}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
