"""Search-step time of the official DrNAS code, timed like ``step_time.py`` times ours (issue 15).

The issue's CPU target is a *ratio* to the official step on the same machine in the same run:
constants measured once drift with the machine's load and clock (the same build measured 373 and
396 ms/iter on two quiet days). This script builds the official NAS-Bench-201 supernet of a
checkout of github.com/xiangning-chen/DrNAS (``201-space/search_model.py``, ``architect.py``)
and times one iteration of its own ``train()`` loop: ``architect.step`` (first order, Adam) on an
arch batch, then forward + backward + ``clip_grad_norm_(5)`` + SGD on a training batch; fp32,
random 3x32x32 images, batch 64, median over the timed iterations after warm-up. Data loading
is excluded on both sides.

The official code calls ``.cuda()`` on its anchor Dirichlet and inputs; on a CPU-only machine
those calls are made no-ops (nothing else is changed).

Usage:
    git clone https://github.com/xiangning-chen/DrNAS /tmp/DrNAS
    python benchmarks/official_step.py --src /tmp/DrNAS --config drnas-pc-nb201
    python benchmarks/step_time.py --config drnas-pc-nb201 --official-src /tmp/DrNAS  # alternating, one process
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Callable

# Configuration -> the official script's model arguments (DrNAS 201-space/train_search*.py).
OFFICIAL = {
    "drnas-nb201": {"k": 1, "script": "201-space/train_search.py"},
    "drnas-pc-nb201": {"k": 4, "script": "201-space/train_search_progressive.py"},  # stage 1: K_pc = 4, 5 ops
}


def _import_official(src: Path):
    """The official ``TinyNetwork``, ``Architect`` and op list, imported from a checkout."""
    import torch

    if not (src / "201-space" / "search_model.py").is_file():
        raise SystemExit(f"official_step: {src} is not a checkout of xiangning-chen/DrNAS "
                         "(no 201-space/search_model.py); clone it and pass its path with --src.")
    sys.path[:0] = [str(src / "201-space"), str(src)]
    # train_search.py's imports pull TensorBoard and nas_201_api; the model and architect do not.
    from architect import Architect
    from cell_operations import NAS_BENCH_201
    from search_model import TinyNetwork

    return TinyNetwork, Architect, NAS_BENCH_201


@contextlib.contextmanager
def _cuda_calls_stay_on_cpu():
    """The official code hard-codes ``.cuda()``; on a CPU-only machine those calls return ``self``."""
    import torch

    if torch.cuda.is_available():
        yield
        return
    saved = torch.Tensor.cuda, torch.nn.Module.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda = saved


def official_iteration(src: Path, config: str, *, device: str) -> Callable[[int], tuple[float, float]]:
    """One iteration of the official ``train()`` loop as ``step(i) -> (weight ms, arch ms)``."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    TinyNetwork, Architect, ops = _import_official(src)
    criterion = nn.CrossEntropyLoss()
    with _cuda_calls_stay_on_cpu():
        model = TinyNetwork(C=16, N=5, max_nodes=4, num_classes=10, criterion=criterion, search_space=ops,
                            k=OFFICIAL[config]["k"], species="dirichlet", reg_type="l2", reg_scale=1e-3).to(device)
    # The official defaults (train_search*.py argparse): SGD 0.025 / 0.9 / 3e-4, Adam 3e-4 (0.5, 0.999), clip 5.
    args = types.SimpleNamespace(momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4,
                                 reg_type="l2", reg_scale=1e-3)
    optimizer = torch.optim.SGD(model.get_weights(), 0.025, momentum=0.9, weight_decay=3e-4)
    architect = Architect(model, args)
    g = torch.Generator().manual_seed(0)
    batches = [tuple(t.to(device) for t in (torch.rand(64, 3, 32, 32, generator=g),
                                               torch.randint(0, 10, (64,), generator=g),
                                               torch.rand(64, 3, 32, 32, generator=g),
                                               torch.randint(0, 10, (64,), generator=g))) for _ in range(4)]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def iteration(i: int) -> tuple[float, float]:
        x, y, xs, ys = batches[i % len(batches)]
        model.train()
        sync()
        t0 = time.perf_counter()
        architect.step(x, y, xs, ys, 0.025, optimizer, unrolled=False)
        sync()
        t1 = time.perf_counter()
        optimizer.zero_grad()
        architect.optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5)
        optimizer.step()
        optimizer.zero_grad()
        architect.optimizer.zero_grad()
        sync()
        t2 = time.perf_counter()
        return 1e3 * (t2 - t1), 1e3 * (t1 - t0)

    return iteration


def summarise(config: str, times: list[tuple[float, float]]) -> dict:
    weight, arch = zip(*times)
    total = [w + a for w, a in times]
    return {"config": config, "ms_iter": statistics.median(total), "ms_min": min(total),
            "ms_weight": statistics.median(weight), "ms_arch": statistics.median(arch), "iters": len(times)}


def time_official(src: Path, config: str, *, iters: int, warmup: int, threads: int, device: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    iteration = official_iteration(src, config, device=device)
    for i in range(warmup):
        iteration(i)
    return summarise(config, [iteration(i) for i in range(iters)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, required=True, help="checkout of github.com/xiangning-chen/DrNAS")
    ap.add_argument("--config", choices=sorted(OFFICIAL), default="drnas-pc-nb201")
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true", help="print one OFFICIAL_STEP json line (step_time.py reads it)")
    args = ap.parse_args(argv)
    got = time_official(args.src.resolve(), args.config, iters=args.iters, warmup=args.warmup,
                        threads=args.threads, device=args.device)
    if args.json:
        print("OFFICIAL_STEP " + json.dumps(got))
    else:
        print(f"official {args.config}: {got['ms_iter']:.0f} ms/iter (min {got['ms_min']:.0f}; "
              f"weight {got['ms_weight']:.0f} + arch {got['ms_arch']:.0f}) over {got['iters']} iterations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
