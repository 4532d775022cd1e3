"""Search-step time of the official code, timed like ``step_time.py`` times ours (issue 15).

The issue's CPU target is a *ratio* to the official step on the same machine in the same run:
constants measured once drift with the machine's load and clock (the official DrNAS step measured
2,519 ms in issue 8 and 2,261-2,429 ms on 2026-11-30 on the same kind of machine). This script
builds the official NAS-Bench-201 supernet from a checkout and times one iteration of the
official search loop, fp32, random 3x32x32 images, batch 64, median over the timed iterations
after warm-up; data loading is excluded on both sides.

* DrNAS (github.com/xiangning-chen/DrNAS, ``201-space/train_search.py`` and
  ``train_search_progressive.py``): ``architect.step`` (first order, Adam) on an arch batch, then
  forward + backward + ``clip_grad_norm_(5)`` + SGD on a training batch.
* DARTS-V1 and GDAS (github.com/D-X-Y/AutoDL-Projects, ``exps/NAS-Bench-201-algos/DARTS-V1.py``
  and ``GDAS.py`` with ``configs/nas-benchmark/algos/*.config``): forward + backward + clip 5 +
  SGD (nesterov) on a training batch, then forward + backward + Adam on an arch batch, with the
  loop's ``.item()`` reads of both losses (they synchronise a GPU).

The DrNAS code calls ``.cuda()`` on its anchor Dirichlet; on a CPU-only machine that call returns
``self`` while the model is built (nothing else is changed).

Usage:
    git clone https://github.com/xiangning-chen/DrNAS /tmp/DrNAS
    git clone https://github.com/D-X-Y/AutoDL-Projects /tmp/AutoDL-Projects
    python benchmarks/official_step.py --src /tmp/DrNAS --config drnas-pc-nb201
    python benchmarks/step_time.py --official-src /tmp/DrNAS --official-src /tmp/AutoDL-Projects  # alternating, one process
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DRNAS, AUTODL = "xiangning-chen/DrNAS", "D-X-Y/AutoDL-Projects"
PAPER_BATCH = 64  # training and arch images per step in both official loops
MARKERS = {DRNAS: "201-space/search_model.py", AUTODL: "xautodl/models/cell_searchs/search_model_darts.py"}


@dataclass(frozen=True)
class Official:
    """The official code a configuration is compared with."""

    repo: str
    script: str  # whose search loop is timed
    model: str  # the super-net class
    k: int = 1  # DrNAS: partial channels (1 = none)


OFFICIAL: dict[str, Official] = {
    "drnas-nb201": Official(DRNAS, "201-space/train_search.py", "TinyNetwork", k=1),
    "drnas-pc-nb201": Official(DRNAS, "201-space/train_search_progressive.py", "TinyNetwork", k=4),  # stage 1
    "darts-nb201": Official(AUTODL, "exps/NAS-Bench-201-algos/DARTS-V1.py", "TinyNetworkDarts"),
    "gdas-nb201": Official(AUTODL, "exps/NAS-Bench-201-algos/GDAS.py", "TinyNetworkGDAS"),
}


def repo_of(src: Path) -> str | None:
    """Which official repository ``src`` is a checkout of (None: neither)."""
    return next((repo for repo, marker in MARKERS.items() if (src / marker).is_file()), None)


def checkout_for(config: str, sources: list[Path]) -> Path | None:
    """The checkout among ``sources`` that holds ``config``'s official code."""
    want = OFFICIAL[config].repo if config in OFFICIAL else None
    return next((src for src in sources if want and repo_of(src) == want), None)


def _import_drnas(src: Path):
    """The official ``TinyNetwork``, ``Architect`` and op list of a DrNAS checkout."""
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


Step = Callable[[int], "tuple[float, float]"]


def official_iteration(src: Path, config: str, *, device: str, batch: int = PAPER_BATCH) -> Step:
    """One iteration of the official search loop as ``step(i) -> (weight ms, arch ms)``, ``batch``
    training and ``batch`` arch images (64: the papers')."""
    spec = OFFICIAL[config]
    if repo_of(src) != spec.repo:
        raise SystemExit(f"official_step: {src} is not a checkout of {spec.repo} (no {MARKERS[spec.repo]}), "
                         f"which holds the official code of {config!r}; clone it and pass its path.")
    return (_drnas_iteration if spec.repo == DRNAS else _autodl_iteration)(src, spec, device, batch)


def _batches(device: str, batch: int = PAPER_BATCH):
    import torch

    g = torch.Generator().manual_seed(0)
    return [tuple(t.to(device) for t in (torch.rand(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g),
                                         torch.rand(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)))
            for _ in range(4)]


def _timed(model, batches, weight_phase, arch_phase, *, arch_first: bool, device: str) -> Step:
    """``step(i) -> (weight ms, arch ms)``: the two phases of an official loop on batch ``i``, in
    the loop's own order, each timed to its end (on a GPU: after a synchronize)."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def iteration(i: int) -> tuple[float, float]:
        x, y, xa, ya = batches[i % len(batches)]
        model.train()
        ms = {}
        for name, phase in (("arch", arch_phase), ("weight", weight_phase))[:: 1 if arch_first else -1]:
            sync()
            started = time.perf_counter()
            phase(x, y, xa, ya)
            sync()
            ms[name] = 1e3 * (time.perf_counter() - started)
        return ms["weight"], ms["arch"]

    return iteration


def _autodl_iteration(src: Path, spec: Official, device: str, batch: int) -> Step:
    """DARTS-V1.py / GDAS.py ``search_func``: the weight step, then the arch step."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    sys.path.insert(0, str(src))
    from xautodl.models import cell_searchs
    from xautodl.models.cell_operations import SearchSpaceNames

    # affine=False (every reference script), track_running_stats=False (our recipes' choice, spec §1.1)
    model = getattr(cell_searchs, spec.model)(16, 5, 4, 10, SearchSpaceNames["nas-bench-201"], False, False).to(device)
    criterion = nn.CrossEntropyLoss()
    # configs/nas-benchmark/algos/{DARTS,GDAS}.config: SGD 0.025, momentum 0.9, nesterov, decay 5e-4;
    # the scripts' Adam: 3e-4, betas (0.5, 0.999), weight decay 1e-3.
    w_optimizer = torch.optim.SGD(model.get_weights(), 0.025, momentum=0.9, weight_decay=5e-4, nesterov=True)
    a_optimizer = torch.optim.Adam(model.get_alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def weight_phase(x, y, xa, ya):
        w_optimizer.zero_grad()
        _, logits = model(x)
        loss = criterion(logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
        w_optimizer.step()
        loss.item()

    def arch_phase(x, y, xa, ya):
        a_optimizer.zero_grad()
        _, logits = model(xa)
        arch_loss = criterion(logits, ya)
        arch_loss.backward()
        a_optimizer.step()
        arch_loss.item()

    return _timed(model, _batches(device, batch), weight_phase, arch_phase, arch_first=False, device=device)


def _drnas_iteration(src: Path, spec: Official, device: str, batch: int) -> Step:
    """DrNAS ``train()``: ``architect.step`` (first order), then the weight step."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    TinyNetwork, Architect, ops = _import_drnas(src)
    criterion = nn.CrossEntropyLoss()
    with _cuda_calls_stay_on_cpu():
        model = TinyNetwork(C=16, N=5, max_nodes=4, num_classes=10, criterion=criterion, search_space=ops,
                            k=spec.k, species="dirichlet", reg_type="l2", reg_scale=1e-3).to(device)
    # The official defaults (train_search*.py argparse): SGD 0.025 / 0.9 / 3e-4, Adam 3e-4 (0.5, 0.999), clip 5.
    args = types.SimpleNamespace(momentum=0.9, weight_decay=3e-4, arch_learning_rate=3e-4,
                                 reg_type="l2", reg_scale=1e-3)
    optimizer = torch.optim.SGD(model.get_weights(), 0.025, momentum=0.9, weight_decay=3e-4)
    architect = Architect(model, args)

    def arch_phase(x, y, xs, ys):
        architect.step(x, y, xs, ys, 0.025, optimizer, unrolled=False)

    def weight_phase(x, y, xs, ys):
        optimizer.zero_grad()
        architect.optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5)
        optimizer.step()
        optimizer.zero_grad()
        architect.optimizer.zero_grad()

    return _timed(model, _batches(device, batch), weight_phase, arch_phase, arch_first=True, device=device)


def summarise(config: str, times: list[tuple[float, float]]) -> dict:
    weight, arch = zip(*times)
    total = [w + a for w, a in times]
    return {"config": config, "ms_iter": statistics.median(total), "ms_min": min(total),
            "ms_weight": statistics.median(weight), "ms_arch": statistics.median(arch), "iters": len(times)}


def time_official(src: Path, config: str, *, iters: int, warmup: int, threads: int, device: str,
                  batch: int = PAPER_BATCH) -> dict:
    import torch

    torch.set_num_threads(threads)
    iteration = official_iteration(src, config, device=device, batch=batch)
    for i in range(warmup):
        iteration(i)
    return summarise(config, [iteration(i) for i in range(iters)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, required=True,
                    help="checkout of github.com/xiangning-chen/DrNAS (drnas-*) or github.com/D-X-Y/AutoDL-Projects")
    ap.add_argument("--config", choices=sorted(OFFICIAL), default="drnas-pc-nb201")
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=PAPER_BATCH, help="training and arch images per step (the papers': 64)")
    args = ap.parse_args(argv)
    got = time_official(args.src.resolve(), args.config, iters=args.iters, warmup=args.warmup,
                        threads=args.threads, device=args.device, batch=args.batch)
    spec = OFFICIAL[args.config]
    print(f"official {args.config} ({spec.repo} {spec.script}): {got['ms_iter']:.0f} ms/iter (min {got['ms_min']:.0f}; "
          f"weight {got['ms_weight']:.0f} + arch {got['ms_arch']:.0f}) over {got['iters']} iterations, batch {args.batch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
