"""Training batch norm per channel count: ATen's channels-last CPU kernels vs the folded kernel (issue 15).

ATen's channels-last batch norm vectorises along each pixel's channels and slows down when the
channel count is not a multiple of 16; ``automl_nas.nn.folded_batch_norm`` folds pixels into
rows of a multiple of 16 for those counts. This prints forward + backward (input and weight
gradients) per width, median of interleaved rounds, so the routing rule in
``folded_batch_norm.fold_factor`` can be checked on any machine.

Usage:
    python benchmarks/bn_widths.py                      # 64 x C x 32 x 32, C in 4..72
    python benchmarks/bn_widths.py --hw 16 --channels 8 24 48 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import time


def _step(fn, x, w, g) -> float:
    import torch

    started = time.perf_counter()
    y = fn(x, None, None, w, None, True, 0.1, 1e-5)
    torch.autograd.grad(y, (x, w), g)
    return 1e3 * (time.perf_counter() - started)


def measure(channels: int, hw: int, batch: int, rounds: int, reps: int) -> dict[str, float]:
    """Median ms of forward + backward for ATen and (where it applies) the folded kernel."""
    import torch
    from torch.nn import functional as F

    from automl_nas.nn.folded_batch_norm import batch_norm, fold_factor

    x = torch.randn(batch, channels, hw, hw).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.rand(channels, requires_grad=True)
    g = torch.randn_like(x)
    kernels = {"aten": F.batch_norm}
    if fold_factor(x):
        kernels["folded"] = batch_norm
    times: dict[str, list[float]] = {name: [] for name in kernels}
    for name, fn in kernels.items():  # warm-up
        _step(fn, x, w, g)
    for _ in range(rounds):
        for name, fn in kernels.items():
            times[name].append(min(_step(fn, x, w, g) for _ in range(reps)))
    return {name: statistics.median(v) for name, v in times.items()} | {"fold": float(fold_factor(x))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[4, 8, 12, 16, 24, 32, 40, 48, 72])
    parser.add_argument("--hw", type=int, default=32, help="spatial size (NB201 stage 1: 32)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median reported)")
    parser.add_argument("--reps", type=int, default=3, help="calls per round (fastest kept)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"training BN forward + backward, {args.batch} x C x {args.hw} x {args.hw} channels-last, "
          f"{args.threads} threads; ms, median of {args.rounds} rounds")
    print(f"{'C':>4} {'aten':>8} {'folded':>8} {'fold k':>7}")
    for c in args.channels:
        r = measure(c, args.hw, args.batch, args.rounds, args.reps)
        folded = f"{r['folded']:8.3f}" if "folded" in r else f"{'-':>8}"
        print(f"{c:>4} {r['aten']:8.3f} {folded} {int(r['fold']):>7}")


if __name__ == "__main__":
    main()
