"""Per-op latency at realistic sizes through ``automl profile-ops`` (issue 4): are convs slower than skips?

Profiles the NB201 search space (C = 16, N = 5) and the DARTS search space (C = 16, 8 cells)
for CIFAR-sized images (3x32x32), batch 64, with the product's own command, then prints each
op's mean latency over its positions and the ratio of every parametric op to ``skip_connect``.
The check that convs cost more than skips belongs here, not in the unit tests: timings depend on
the machine and on its load.

Usage:
    python benchmarks/op_latency.py                              # CPU, 1 thread, both spaces
    python benchmarks/op_latency.py --device cuda --backward --space nb201
    python benchmarks/op_latency.py --threads 2 --repeats 30 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACES = {
    "nb201": ["nb201", "--set", "space.channels=16", "--set", "space.cells_per_stage=5"],
    "darts": ["darts", "--set", "space.channels=16", "--set", "space.layers=8"],
}
CONVS = ("nor_conv_1x1", "nor_conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def profile(space: str, args: argparse.Namespace, out: Path) -> dict:
    cmd = [str(REPO / ".venv" / "bin" / "automl"), "profile-ops", *SPACES[space], "--input", "3x32x32",
           "--device", args.device, "--batch", str(args.batch), "--repeats", str(args.repeats), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--out", str(out), "--quiet"]
    if args.backward:
        cmd.append("--backward")
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)  # the command's own table: summarised below
    return json.loads(out.read_text())


def op_means(table: dict) -> dict[str, float]:
    """Mean latency (ms) of each op over every position in every group."""
    values: dict[str, list[float]] = {}
    for group in table["groups"].values():
        for cell in group["latency_ms"]:
            for row in cell:
                for op, ms in zip(group["ops"], row):
                    values.setdefault(op, []).append(ms)
    return {op: statistics.fmean(v) for op, v in values.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=sorted(SPACES), action="append")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backward", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the summaries here")
    args = parser.parse_args()
    report, ok = {}, True
    with tempfile.TemporaryDirectory() as tmp:
        for space in args.space or sorted(SPACES):
            table = profile(space, args, Path(tmp) / f"{space}.json")
            means = op_means(table)
            skip = means["skip_connect"]
            m = table["measured"]
            print(f"{space}: {m['device_name']}, torch {m['torch']}, {m['threads']} threads, batch {m['batch']}, "
                  f"{'fwd+bwd' if m['backward'] else 'fwd'}, {m['unique_ops']} distinct op instances timed")
            print(f"  {'op':<14} {'mean ms':>9} {'x skip':>8}")
            for op, ms in means.items():
                print(f"  {op:<14} {ms:>9.4f} {ms / skip:>8.1f}")
            convs = [op for op in means if op in CONVS]
            slower = all(means[op] > skip for op in convs)
            ok &= slower
            print(f"  every conv slower than skip_connect on average: {'yes' if slower else 'NO'}")
            report[space] = {"measured": m, "mean_ms": means}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
