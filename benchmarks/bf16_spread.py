"""Is a bf16 search inside fp32's own seed-to-seed spread? (issue 15: the evidence ``run.bf16``'s default waits for)

Runs the same recipe for ``--seeds`` seeds in fp32 and with ``run.bf16 = true`` (bf16 autocast of
the forward passes), interleaved seed by seed, all on one protocol (``--epochs``, the data of
``--data``), and compares the searches' results: the evaluator's score of each derived genotype
(``--metric``) and the supernet's last validation accuracy.

The rule (a benchmark verdict, not a test): bf16 is *inside the spread* when the mean of its
scores lies within fp32's mean +- one seed-to-seed standard deviation (sample std over the fp32
seeds). Each bf16 score is also placed against fp32's [min, max].

Usage:
    python benchmarks/bf16_spread.py --data cifar10-5k.npz --seeds 4 --epochs 30 --set space.channels=8 --set space.cells_per_stage=1
    python benchmarks/bf16_spread.py --data cifar10-5k.npz --table nb201-test-accuracy.csv --json out.json
    python benchmarks/bf16_spread.py --quick   # the recipe's quick profile (digits, tiny supernet): plumbing only

Without ``--table`` the genotypes are scored by the embedded analog-nasbench table
(``cifar10_analog``: AnalogNAS-Bench's baseline accuracy of the cell); with it, by the
NAS-Bench-201 test-accuracy table at that path (``--metric cifar10``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SearchOutcome:
    """What one search found."""

    seed: int
    bf16: bool
    genotype: str
    score: float  # the evaluator's --metric for the derived genotype
    valid_acc: float  # the supernet's validation accuracy after the last epoch
    seconds: float


@dataclass(frozen=True)
class Spread:
    """fp32's seed-to-seed spread and where bf16 falls in it, for one quantity."""

    quantity: str
    fp32: list[float]
    bf16: list[float]
    fp32_mean: float
    fp32_std: float
    bf16_mean: float
    fp32_median: float  # NAS outcomes have outliers (a collapsed cell scores 10%): the medians say whether one decides
    bf16_median: float
    delta: float  # bf16 mean - fp32 mean
    inside: bool  # |delta| <= fp32 std
    bf16_in_fp32_range: int  # how many bf16 scores lie in fp32's [min, max]


def spread(quantity: str, fp32: list[float], bf16: list[float]) -> Spread:
    """The rule of this benchmark; needs two or more seeds each (a spread needs two)."""
    if len(fp32) < 2 or len(bf16) < 2:
        raise ValueError(f"{quantity}: a seed-to-seed spread needs >= 2 seeds per precision, got {len(fp32)} and {len(bf16)}")
    mean, std, bmean = statistics.fmean(fp32), statistics.stdev(fp32), statistics.fmean(bf16)
    return Spread(quantity=quantity, fp32=list(fp32), bf16=list(bf16), fp32_mean=mean, fp32_std=std, bf16_mean=bmean,
                  fp32_median=statistics.median(fp32), bf16_median=statistics.median(bf16), delta=bmean - mean, inside=abs(bmean - mean) <= std,
                  bf16_in_fp32_range=sum(min(fp32) <= v <= max(fp32) for v in bf16))


def search_once(session, args: argparse.Namespace, seed: int, bf16: bool, root: Path) -> SearchOutcome:
    overrides = [f"seed={seed}", f"run.bf16={str(bf16).lower()}", f"run.device={args.device!r}", f"run.root={str(root)!r}",
                 "run.checkpoint_every=0"]
    if args.table:
        overrides.append(f'evaluator={{name="nb201-table", path="{Path(args.table).resolve()}"}}')
    elif not args.quick:
        overrides.append('evaluator={name="analog-nasbench"}')
    if args.data and not args.quick:
        overrides.append(f'data={{name="npz", path="{Path(args.data).resolve()}", batch_size=64}}')
    if args.epochs:
        overrides.append(f"search.epochs={args.epochs}")
    if args.device == "cpu":
        overrides.append(f"run.threads={args.threads}")
    plan = session.plan(REPO / args.recipe, profile="quick" if args.quick else None, overrides=overrides + args.set)
    started = time.perf_counter()
    result = session.execute(plan, quiet=True)
    if result.get("status") != "finished" or not result.get("metrics"):
        raise SystemExit(f"bf16_spread: seed {seed} ({'bf16' if bf16 else 'fp32'}) did not finish with a score: "
                         f"{result.get('error') or result.get('eval_error')}")
    metrics = result["metrics"]
    if args.metric not in metrics:
        raise SystemExit(f"bf16_spread: the evaluator gives {sorted(metrics)}, not --metric {args.metric!r}")
    return SearchOutcome(seed=seed, bf16=bf16, genotype=result["genotype"], score=float(metrics[args.metric]),
                         valid_acc=float(result["last_epoch"]["valid_acc"]), seconds=time.perf_counter() - started)


def report(outcomes: list[SearchOutcome], metric: str) -> list[Spread]:
    by = {b: [o for o in outcomes if o.bf16 == b] for b in (False, True)}
    return [spread(metric, [o.score for o in by[False]], [o.score for o in by[True]]),
            spread("valid_acc", [o.valid_acc for o in by[False]], [o.valid_acc for o in by[True]])]


def print_report(outcomes: list[SearchOutcome], spreads: list[Spread]) -> None:
    print(f"{'seed':>4} {'precision':<9} {'score':>7} {'valid':>6} {'s':>6}  genotype")
    for o in outcomes:
        print(f"{o.seed:>4} {'bf16' if o.bf16 else 'fp32':<9} {o.score:>7.2f} {o.valid_acc:>6.2f} {o.seconds:>6.0f}  {o.genotype}")
    for s in spreads:
        print(f"{s.quantity}: fp32 {s.fp32_mean:.2f} +- {s.fp32_std:.2f} (n={len(s.fp32)}), bf16 {s.bf16_mean:.2f} "
              f"(n={len(s.bf16)}), delta {s.delta:+.2f}: {'INSIDE' if s.inside else 'OUTSIDE'} fp32's spread; "
              f"{s.bf16_in_fp32_range}/{len(s.bf16)} bf16 scores in fp32's [min, max]; medians fp32 {s.fp32_median:.2f}, "
              f"bf16 {s.bf16_median:.2f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="recipes/darts-nb201.toml",
                   help="a shipped recipe (default: DARTS on NAS-Bench-201, whose supernets learn within a short "
                        "protocol; GDAS' stay at chance for 10 epochs on 5k images)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per precision (>= 2)")
    p.add_argument("--epochs", type=int, default=0, help="search epochs (default: the recipe's)")
    p.add_argument("--data", help="an npz of images (x uint8 Nx3xHxW, y) for the searches, e.g. the 5k CIFAR-10 sample")
    p.add_argument("--table", help="score with the NAS-Bench-201 table at this path (default: analog-nasbench)")
    p.add_argument("--metric", default=None, help="evaluator metric (default: cifar10 with --table, else cifar10_analog)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--quick", action="store_true", help="the recipe's quick profile (plumbing, not a figure)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more recipe overrides")
    p.add_argument("--json", type=Path, help="also write outcomes and spreads as JSON")
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error("--seeds must be >= 2: a seed-to-seed spread needs two seeds")
    if not args.quick and not args.data:
        p.error("--data FILE.npz is needed (no data set can be downloaded on the machines this runs on); --quick uses digits")
    args.metric = args.metric or ("cifar10" if args.table else "cifar10_analog")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from automl_nas.session import open_session

    session = open_session()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bf16-spread-") as tmp:
        for seed in range(args.seeds):
            for bf16 in (False, True):  # interleaved: a drifting machine affects both alike
                outcomes.append(search_once(session, args, seed, bf16, Path(tmp)))
                print(f"bf16_spread: seed {seed} {'bf16' if bf16 else 'fp32'}: {outcomes[-1].score:.2f} "
                      f"({outcomes[-1].seconds:.0f} s)", file=sys.stderr, flush=True)
                if args.json:  # after every search: a run cut short by its caller keeps what finished
                    _write_json(args, outcomes, None)
    spreads = report(outcomes, args.metric)
    print_report(outcomes, spreads)
    if args.json:
        _write_json(args, outcomes, spreads)
    return 0


def _write_json(args: argparse.Namespace, outcomes: list[SearchOutcome], spreads: list[Spread] | None) -> None:
    record = {"recipe": args.recipe, "epochs": args.epochs, "device": args.device, "finished": spreads is not None,
              "outcomes": [asdict(o) for o in outcomes], "spreads": [asdict(s) for s in spreads or []]}
    tmp = args.json.with_name(f".{args.json.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
