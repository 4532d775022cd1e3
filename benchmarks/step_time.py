"""Search-step time and peak memory of our supernets against the official implementations (issue 8).

One search iteration = one weight step (forward + backward + SGD) on a training batch plus one
first-order architecture step (forward + backward + Adam) on an arch batch; fp32, random
3x32x32 images, 10 classes, batch 64 (+ 64 arch images), median over the timed iterations after
warm-up; peak resident memory of the process (on a GPU: CUDA events and peak allocated memory).
Everything runs through the product: the shipped recipe is planned with overrides
(``automl_nas.recipe.plan_recipe``) and the engine's own ``Search.weight_step`` /
``Search.arch_step`` are timed on the supernet the space plugin builds.

Each configuration x path runs in a subprocess of its own (RSS is per process). ``--interleave``
instead times the fast and the plain path alternately in ONE process (robust speed-up ratio on a
busy machine; RSS then covers both). The projection line multiplies the measured times by the
paper's epochs x iterations per epoch (algorithms.md §4-§8).

Usage:
    python benchmarks/step_time.py                         # all configurations, fast path
    python benchmarks/step_time.py --config gdas-nb201 --both --json out.json
    python benchmarks/step_time.py --config darts-nb201 --interleave --rounds 5
    python benchmarks/step_time.py --official-src ~/DrNAS --official-src ~/AutoDL-Projects --breakdown
    python benchmarks/step_time.py --config drnas-pc-nb201 --official-src ~/DrNAS --batch 2
    python benchmarks/step_time.py --config drnas-nb201 --official-src ~/DrNAS --split-batch 2
    python benchmarks/step_time.py --list

The ratio column divides by the official step timed in the same process (``--official-src``:
DrNAS, DARTS-V1 and GDAS from their official checkouts, benchmarks/official_step.py), else by the
issue-8 constant, marked ``*``. With ``--official-src`` a ``ratio ... per round`` line adds the
ratio of each alternating round (median, quartiles, range): the official step drifts as much as
ours, so the spread of those ratios is the error bar of the ratio.

``--batch 2`` (ours and the official alike) measures the per-step fixed cost: the framework work
(Python, dispatch, autograd, kernel launches) a step pays whatever its batch. At the papers' 64 the
rest of the step is the batch-dependent work, so the two runs split a step into what bigger kernels
would speed up and what only fewer ops would (issue 15's floor). ``--split-batch 2`` runs both
batches and prints that split for ours and the official step: a line through the two step times,
its intercept the fixed part, the rest at the papers' batch the batch-dependent part, the ratio of
each, and how small the fixed part would have to be for the issue's whole-step ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAPER_BATCH = 64
NB201_ITERS = 25_000 // PAPER_BATCH  # CIFAR-10 25k/25k search split, batch 64, drop_last (spec §1.6)
TARGET_RATIO = 0.33  # issue 15: DrNAS (and its progressive stage 1) step over the official one, on CPU


@dataclass(frozen=True)
class BenchConfig:
    """One measured configuration: a shipped recipe plus overrides, and the official figures."""

    recipe: str
    overrides: tuple[str, ...] = ()
    official_ms: float | None = None
    official_rss_gb: float | None = None
    # Projection of the paper's search: epochs (with / without the arch step) x iterations per epoch.
    epochs: int = 0
    frozen_epochs: int = 0  # epochs with weight steps only (DrNAS warm-up)
    iters_per_epoch: int = NB201_ITERS
    single_level: bool = False  # the paper's iteration is one joint step (SNAS)
    stage_epoch: int = 0  # epoch whose structure is measured (DrNAS progressive stage 2 = 50)
    note: str = ""


# Official figures: issue 8 (2 cores, torch 2.14.1, fp32, batch 64). Epochs: algorithms.md §8, §4, §5.2, §7.4.
CONFIGS: dict[str, BenchConfig] = {
    "gdas-nb201": BenchConfig("recipes/gdas.toml", official_ms=567, official_rss_gb=1.9, epochs=250,
                              note="GDAS, NB201 C=16 N=5, tau=10"),
    "darts-nb201": BenchConfig("recipes/darts-nb201.toml", official_ms=2830, official_rss_gb=4.4, epochs=50,
                               note="DARTS 1st order, NB201 C=16 N=5"),
    "drnas-nb201": BenchConfig("recipes/drnas.toml", official_ms=2519, official_rss_gb=3.1, epochs=100,
                               note="DrNAS, NB201 C=16 N=5, no partial channels"),
    "drnas-pc-nb201": BenchConfig("recipes/drnas-progressive.toml", official_ms=947, official_rss_gb=1.6,
                                  epochs=40, frozen_epochs=10,
                                  note="DrNAS progressive stage 1 (K_pc=4, 5 ops); projection: stage 1 only"),
    "drnas-pc2-nb201": BenchConfig("recipes/drnas-progressive.toml", epochs=40, frozen_epochs=10, stage_epoch=50,
                                   note="DrNAS progressive stage 2 (K_pc=2, 3 ops); projection: stage 2 only"),
    "snas-nb201": BenchConfig("recipes/snas.toml", epochs=100, note="SNAS (DrNAS protocol), NB201 C=16 N=5"),
    "snas-darts": BenchConfig("recipes/snas-darts.toml", official_ms=13055, official_rss_gb=9.9, epochs=150,
                              iters_per_epoch=50_000 // 64, single_level=True,
                              note="SNAS, DARTS space C=16 8 cells; projection: single-level steps on 50k"),
    "darts-darts": BenchConfig("recipes/darts.toml", ("search.second_order=false",), official_ms=13435,
                               official_rss_gb=9.7, epochs=50, note="DARTS 1st order, DARTS space C=16 8 cells"),
}


@dataclass
class Measurement:
    config: str
    path: str
    device: str
    threads: int
    bf16: bool
    ms_iter: float
    ms_min: float  # fastest iteration: the least disturbed by other processes on a shared machine
    ms_weight: float
    ms_arch: float
    ms_single: float | None
    img_per_s: float
    peak_gb: float
    peak_kind: str
    iters: int
    loadavg: list = field(default_factory=list)
    compiled: bool = False  # run.compile (issue 15); the warm-up iterations include compiling
    compile_mode: str = ""  # run.compile_mode when compiled (reduce-overhead: CUDA graphs)
    official_ms_measured: float | None = None  # --official-src: the official step, same machine, same run
    breakdown: list[str] | None = None  # --breakdown: op_breakdown.Breakdown.lines() of our step
    official_breakdown: list[str] | None = None  # ... and of the official step
    # --official-src: ours / official per alternating round (medians of the round's iterations). The
    # machine drifts by 10% within minutes and the official step as much as ours; a round's ratio
    # compares the two under the same conditions, so their spread is the ratio's own error bar.
    round_ratios: list[float] | None = None
    # Images per weight step and per arch step. 64 is the papers'; a batch of 2 measures the per-step
    # fixed cost (Python, dispatch, autograd, kernel launches) that no batch size amortises.
    batch: int = PAPER_BATCH
    # Compiled rows: the graphs dynamo built over warm-up and timing, and its graph breaks plus the
    # frames it gave up on (run eager). CUDA graphs capture only what is in a graph: a healthy
    # compiled supernet is one graph per kind of step (weight, arch), no breaks (issue 15).
    graphs: int | None = None
    graph_breaks: int | None = None
    cudagraph_skips: int | None = None  # graphs inductor ran without CUDA graphs ("reduce-overhead" rows)


# ---------------------------------------------------------------------------------- worker side


def _random_npz(directory: Path, n: int, seed: int = 0) -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    path = directory / "random-cifar.npz"
    np.savez(path, x=rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), y=rng.integers(0, 10, n))
    return path


def build_search(name: str, *, fast: bool, device: str, threads: int, bf16: bool, workdir: Path,
                 compiled: bool = False, compile_mode: str = "default", batch: int = PAPER_BATCH):
    """The engine's ``Search`` for configuration ``name``, at the start of its measured epoch."""
    import torch

    from automl_nas.engine.run import Search
    from automl_nas.records.rundir import RunDir
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    cfg = CONFIGS[name]
    data = _random_npz(workdir, 8 * max(batch, PAPER_BATCH))
    overrides = [f'data={{name="npz", path="{data}", batch_size={batch}}}', f"run.device={device!r}",
                 f"run.threads={threads}", f"run.fast_paths={str(fast).lower()}", f"run.bf16={str(bf16).lower()}",
                 f"run.compile={str(compiled).lower()}", f"run.compile_mode={compile_mode if compiled else 'default'!r}",
                 f"run.root={str(workdir / 'runs')!r}", *cfg.overrides]
    registry = open_session().registry
    plan = plan_recipe(REPO / cfg.recipe, registry, overrides=overrides)
    search = Search(plan, registry, RunDir.create(workdir / "runs", name), device=device, quiet=True)
    search.enter_epoch(cfg.stage_epoch)  # progressive DrNAS: prune + widen to the measured stage
    torch.set_num_threads(threads)
    return search


class _Clock:
    """Wall clock on CPU; CUDA events (and a sync) on a GPU."""

    def __init__(self, device: str) -> None:
        import torch

        self.cuda = device.startswith("cuda")
        self.torch = torch

    def time(self, fn) -> float:
        if not self.cuda:
            started = time.perf_counter()
            fn()
            return 1e3 * (time.perf_counter() - started)
        start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)


def _batches(search, count: int):
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    return [(next(train), next(arch)) for _ in range(count)]


def time_iterations(search, batches, iters: int, clock: _Clock, *, single: bool) -> dict[str, list[float]]:
    """Per-iteration times (ms) of the engine's weight step, arch step and (SNAS) single step."""
    out: dict[str, list[float]] = {"weight": [], "arch": [], "iter": [], "single": []}
    for i in range(iters):
        (x, y), (xv, yv) = batches[i % len(batches)]
        w = clock.time(lambda: search.weight_step(x, y))
        a = clock.time(lambda: search.arch_step(xv, yv, x, y))
        out["weight"].append(w)
        out["arch"].append(a)
        out["iter"].append(w + a)
        if single:
            out["single"].append(clock.time(lambda: search.single_step(x, y, True)))
    return out


def _fused(search, path: str) -> bool:
    """Whether ``path`` runs fused: a compiled forward traces the plain path, as the engine sets it
    (a hard-sample run leaves compile, and then runs fused again)."""
    return path == "fast" and not search.compiled


def dynamo_graphs() -> dict[str, int]:
    """``graphs``, ``graph_breaks`` (breaks plus frames dynamo ran eager) and ``cudagraph_skips``
    (graphs inductor ran without CUDA graphs, e.g. for mutated inputs: a "reduce-overhead" row
    with skips is not the CUDA-graph figure it is labelled) so far in this process."""
    from torch._dynamo.utils import counters

    from automl_nas.engine import compile_watch

    return {"graphs": compile_watch.dynamo_graphs(), "graph_breaks": sum(compile_watch.dynamo_breaks().values()),
            "cudagraph_skips": int(counters["inductor"]["cudagraph_skips"])}


def _peak(device: str) -> tuple[float, str]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30, "cuda allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, "process RSS"


def _measurement(name: str, path: str, device: str, threads: int, bf16: bool, times: dict,
                 compiled: bool = False, official_ms: float | None = None, compile_mode: str = "",
                 batch: int = PAPER_BATCH, peak: tuple[float, str] | None = None) -> Measurement:
    """``peak``: ours, read before another model was built in the process (default: read now)."""
    med = {k: statistics.median(v) if v else None for k, v in times.items()}
    peak, kind = peak or _peak(device)
    return Measurement(config=name, path=path, device=device, threads=threads, bf16=bf16, ms_iter=med["iter"],
                       ms_min=min(times["iter"]),
                       ms_weight=med["weight"], ms_arch=med["arch"], ms_single=med["single"],
                       img_per_s=2 * batch * 1e3 / med["iter"], peak_gb=peak, peak_kind=kind, iters=len(times["iter"]),
                       loadavg=list(os.getloadavg()), compiled=compiled, official_ms_measured=official_ms,
                       compile_mode=compile_mode if compiled else "", batch=batch)


def worker(args: argparse.Namespace) -> list[Measurement]:
    import torch

    torch.set_num_threads(args.threads)
    cfg = CONFIGS[args.config]
    paths = ["fast", "plain"] if args.interleave else [args.path]
    with tempfile.TemporaryDirectory(prefix="step-time-") as tmp:
        search = build_search(args.config, fast=paths[0] == "fast", device=args.device, threads=args.threads,
                              bf16=args.bf16, workdir=Path(tmp), compiled=args.compile, compile_mode=args.compile_mode,
                              batch=args.batch)
        from automl_nas.nn import set_fast_paths

        clock = _Clock(args.device)
        batches = _batches(search, 4)
        times = {p: {"weight": [], "arch": [], "iter": [], "single": []} for p in paths}
        official, official_times = None, []
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # official_step, op_breakdown
        for p in paths:  # warm-up every path (allocator, oneDNN primitive caches)
            set_fast_paths(search.run.supernet, _fused(search, p))
            time_iterations(search, batches, max(args.warmup, 1), clock, single=cfg.single_level)
        # Our peak before the official model exists in this process: "peak memory per configuration"
        # counted both models (CUDA's max allocated and the RSS are per process).
        own_peak = _peak(args.device)
        if args.official_src:  # the official step alternates with ours: both see the same machine
            from official_step import official_iteration, summarise

            try:
                official = official_iteration(args.official_src[0], args.config, device=args.device, batch=args.batch)
                for i in range(args.warmup):
                    official(i)
            except Exception as exc:  # ours is still measured; the table then shows the issue-8 figure
                print(f"step_time: the official step could not run ({type(exc).__name__}: {exc}); "
                      "measuring ours alone", file=sys.stderr, flush=True)
                official = None
        alternate = args.interleave or official is not None
        rounds = args.rounds if alternate else 1
        per_round = max(1, args.iters // rounds) if alternate else args.iters
        round_ratios = []
        for _ in range(rounds):
            for p in paths:
                set_fast_paths(search.run.supernet, _fused(search, p))
                got = time_iterations(search, batches, per_round, clock, single=cfg.single_level)
                for k, v in got.items():
                    times[p][k].extend(v)
            if official is not None:
                theirs = [official(len(official_times) + i) for i in range(per_round)]
                official_times += theirs
                round_ratios.append(statistics.median(times[paths[0]]["iter"][-per_round:])
                                    / summarise(args.config, theirs)["ms_iter"])
        off_ms = summarise(args.config, official_times)["ms_iter"] if official_times else None
        rows = [_measurement(args.config, p, args.device, args.threads, args.bf16, times[p], args.compile, off_ms,
                             args.compile_mode, args.batch, peak=own_peak if official is not None else None) for p in paths]
        if round_ratios:
            rows[0] = replace(rows[0], round_ratios=round_ratios)
        if args.compile:
            rows = [replace(m, **dynamo_graphs()) for m in rows]
        if args.breakdown:  # after the timed rounds: the profiler's overhead never enters the medians
            from op_breakdown import profile_steps

            cuda, n = args.device.startswith("cuda"), max(2, min(args.iters, 4))
            set_fast_paths(search.run.supernet, _fused(search, paths[0]))
            ours = profile_steps(lambda i: time_iterations(search, batches[i % len(batches):][:1], 1, clock,
                                                           single=cfg.single_level), n, cuda=cuda,
                                 device=args.device)
            rows[0] = replace(rows[0], breakdown=ours.lines())
            if official is not None:
                theirs = profile_steps(official, n, cuda=cuda)
                rows[0] = replace(rows[0], official_breakdown=theirs.lines())
        return rows


# ---------------------------------------------------------------------------------- driver side


def _spawn(name: str, path: str, args: argparse.Namespace, bf16: bool) -> list[Measurement]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--config", name, "--path", path,
           "--device", args.device, "--threads", str(args.threads), "--iters", str(args.iters),
           "--warmup", str(args.warmup), "--rounds", str(args.rounds), "--batch", str(args.batch)]
    cmd += ["--bf16", "on" if bf16 else "off"]
    cmd += ["--compile", "--compile-mode", args.compile_mode] if args.compile else []
    cmd += ["--breakdown"] if args.breakdown else []
    cmd += ["--interleave"] if path == "both" else []
    official = _official_checkout(name, args.official_src or [])
    if official and not bf16 and path != "both":
        cmd += ["--official-src", str(official.resolve())]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"step_time: configuration {name!r} ({path}) failed with exit code {proc.returncode}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("STEP_TIME ")][-1]
    return [Measurement(**m) for m in json.loads(line[len("STEP_TIME "):])]


def replace_args(args: argparse.Namespace, **changes) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


def _official_checkout(name: str, sources: list[Path]) -> Path | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from official_step import checkout_for

    return checkout_for(name, sources)


def projection_hours(m: Measurement) -> float | None:
    """Wall time of the paper's search at the measured speed (hours); None for a step not at the paper's batch."""
    cfg = CONFIGS[m.config]
    if not cfg.epochs or m.batch != PAPER_BATCH:
        return None
    if cfg.single_level and m.ms_single is not None:
        ms = (cfg.epochs + cfg.frozen_epochs) * cfg.iters_per_epoch * m.ms_single
    else:
        ms = cfg.iters_per_epoch * (cfg.epochs * m.ms_iter + cfg.frozen_epochs * m.ms_weight)
    return ms / 3.6e6


@dataclass(frozen=True)
class FixedCostSplit:
    """A step at the larger batch as a fixed part (paid per iteration whatever the batch) plus a
    batch-dependent part, from a line through the step times at two batch sizes; ours and, where
    it was timed beside ours, the official step's."""

    config: str
    batches: tuple[int, int]
    fixed_ms: float
    batch_ms: float
    official_fixed_ms: float | None = None
    official_batch_ms: float | None = None

    def lines(self, target: float = TARGET_RATIO) -> list[str]:
        small, big = self.batches
        ours = f"ours {self.fixed_ms:.0f} ms fixed + {self.batch_ms:.0f} ms batch-dependent"
        if self.official_fixed_ms is None or self.official_batch_ms is None:
            return [f"split {self.config} at batch {big} (a line through batches {small} and {big}): {ours}"]
        official = self.official_fixed_ms + self.official_batch_ms
        ratio = (self.fixed_ms + self.batch_ms) / official
        out = [f"split {self.config} at batch {big} (a line through batches {small} and {big}): {ours}; official "
               f"{self.official_fixed_ms:.0f} + {self.official_batch_ms:.0f} ms; ratios: fixed "
               f"{self.fixed_ms / self.official_fixed_ms:.2f}, batch-dependent {self.batch_ms / self.official_batch_ms:.3f}, "
               f"whole step {ratio:.3f}"]
        if ratio > target:
            room = target * official - self.batch_ms
            need = (f"the fixed part would have to drop to {room:.0f} ms ({room / self.fixed_ms:.0%} of today's)"
                    if room > 0 else "no fixed part would be small enough: the batch-dependent part alone exceeds it")
            out.append(f"  for a whole-step ratio of {target} with the batch-dependent part as it is, {need}")
        return out


def fixed_cost_split(small: Measurement, big: Measurement) -> FixedCostSplit:
    """The fixed and batch-dependent parts of ``big``'s step, from ``small`` and ``big`` (same config, two batches)."""
    if small.config != big.config or small.batch >= big.batch:
        raise ValueError(f"need one configuration at two batches, smaller first: got {small.config} at {small.batch}, "
                         f"{big.config} at {big.batch}")

    def parts(t_small: float, t_big: float) -> tuple[float, float]:
        per_image = (t_big - t_small) / (big.batch - small.batch)
        fixed = t_small - per_image * small.batch
        return fixed, t_big - fixed

    fixed, batch = parts(small.ms_iter, big.ms_iter)
    official = (parts(small.official_ms_measured, big.official_ms_measured)
                if small.official_ms_measured and big.official_ms_measured else (None, None))
    return FixedCostSplit(big.config, (small.batch, big.batch), fixed, batch, *official)


def print_table(rows: list[Measurement]) -> None:
    head = (f"{'config':<16} {'path':<6} {'bf16':<4} {'batch':>5} {'ms/iter':>8} {'min':>6} {'(w + a)':>15} {'img/s':>7} {'peak GB':>8} "
            f"{'official ms':>11} {'ratio':>6} {'off. GB':>7} {'paper search':>13}")
    print(head)
    print("-" * len(head))
    for m in rows:
        cfg = CONFIGS[m.config]
        # A figure measured in this run beats the issue-8 constant (marked *): the machine drifts.
        official = m.official_ms_measured or (cfg.official_ms if not m.device.startswith("cuda")
                                              and m.batch == PAPER_BATCH else None)
        ratio = f"{m.ms_iter / official:.2f}" if official else "-"
        off_ms = (f"{official:,.0f}" + ("" if m.official_ms_measured else "*")) if official else "-"
        off_gb = f"{cfg.official_rss_gb:.1f}" if cfg.official_rss_gb else "-"
        hours = projection_hours(m)
        proj = f"{hours:.2f} h" if hours is not None else "-"
        print(f"{m.config:<16} {m.path:<6} {'on' if m.bf16 else 'off':<4} {m.batch:>5} {m.ms_iter:>8.0f} {m.ms_min:>6.0f} "
              f"{f'({m.ms_weight:.0f} + {m.ms_arch:.0f})':>15} {m.img_per_s:>7.0f} {m.peak_gb:>8.2f} "
              f"{off_ms:>11} {ratio:>6} {off_gb:>7} {proj:>13}")
    print()
    for m in rows:
        cfg = CONFIGS[m.config]
        hours = projection_hours(m)
        if hours is None:
            continue
        what = (f"{cfg.epochs + cfg.frozen_epochs} epochs x {cfg.iters_per_epoch} single-level steps x {m.ms_single:.0f} ms"
                if cfg.single_level and m.ms_single is not None else
                f"{cfg.epochs} epochs x {cfg.iters_per_epoch} it x {m.ms_iter:.0f} ms"
                + (f" + {cfg.frozen_epochs} weight-only epochs x {m.ms_weight:.0f} ms" if cfg.frozen_epochs else ""))
        print(f"projection {m.config} ({m.path}): {what} = {hours:.2f} h on {m.device} ({m.threads} threads) - {cfg.note}")
    for m in rows:
        if m.graphs == 0:  # no compiled call at all
            print(f"compiled {m.config}: ran eager, no graph: the engine leaves run.compile when a sampler picks one "
                  "op per edge (a new graph at every pick)")
        elif m.graphs is not None:
            from automl_nas.engine.compile_watch import whole

            health = ("" if whole(m.graphs, m.graph_breaks) else
                      ": not one graph per kind of step, so CUDA graphs capture only part of it (TORCH_LOGS=graph_breaks,recompiles)")
            print(f"compiled {m.config}: {m.graphs} dynamo graph(s), {m.graph_breaks} graph break(s) or eager frame(s){health}")
    for m in rows:
        if m.batch != PAPER_BATCH:
            print(f"batch {m.config} ({m.path}): {m.batch} images per weight step and per arch step, not the papers' "
                  f"{PAPER_BATCH}: {m.ms_iter:.0f} ms/iter is the per-step fixed cost (no projection)")
    for m in rows:
        if m.round_ratios:
            r = sorted(m.round_ratios)
            at = f", batch {m.batch}" if m.batch != PAPER_BATCH else ""
            print(f"ratio {m.config} ({m.path}{at}) per round, ours / official side by side: median "
                  f"{statistics.median(r):.3f}, quartiles {r[len(r) // 4]:.3f}-{r[(3 * len(r)) // 4]:.3f}, "
                  f"range {r[0]:.3f}-{r[-1]:.3f} over {len(r)} rounds")
    by_key: dict[tuple, dict[str, Measurement]] = {}
    for m in rows:
        by_key.setdefault((m.config, m.bf16), {})[m.path] = m
    for (name, bf16), paths in by_key.items():
        if {"fast", "plain"} <= set(paths):
            f, p = paths["fast"], paths["plain"]
            print(f"speed-up {name}{' bf16' if bf16 else ''}: plain/fast = {p.ms_iter / f.ms_iter:.2f}x "
                  f"({p.ms_iter:.0f} -> {f.ms_iter:.0f} ms/iter)")
    for small in rows:
        big = next((m for m in rows if m.config == small.config and m.path == small.path and m.bf16 == small.bf16
                    and m.batch > small.batch), None)
        if big is not None:
            print("\n".join(fixed_cost_split(small, big).lines()))
    for m in rows:
        for who, lines in (("ours", m.breakdown), ("official", m.official_breakdown)):
            if lines:
                print(f"breakdown {m.config} ({who}, {m.device}):")
                print("\n".join("  " + line for line in lines))
    if any(m.official_ms_measured is None and CONFIGS[m.config].official_ms for m in rows):
        print("* official ms: the issue-8 figure (2 cores), not measured in this run; --official-src DIR times the "
              "official code beside ours (benchmarks/official_step.py)")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    busy = [m for m in rows if m.loadavg and m.loadavg[0] > (os.cpu_count() or 1) + 0.5]
    if busy:
        print(f"warning: {len(busy)} measurement(s) ran with a 1-min load average above {os.cpu_count()} cores "
              f"(max {max(m.loadavg[0] for m in busy):.1f}): other processes shared the CPU, and OpenMP threads "
              f"that wait for a descheduled peer inflate times many-fold; compare paths with --interleave")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), help="configuration (repeatable; default: all)")
    paths = parser.add_mutually_exclusive_group()
    paths.add_argument("--fast", dest="paths", action="store_const", const=["fast"], help="fused paths (default)")
    paths.add_argument("--plain", dest="paths", action="store_const", const=["plain"], help="the plain reference path")
    paths.add_argument("--both", dest="paths", action="store_const", const=["fast", "plain"],
                       help="both paths, each in its own subprocess")
    paths.add_argument("--interleave", dest="paths", action="store_const", const=["both"],
                       help="both paths alternately in one process (robust ratio; shared RSS)")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    parser.add_argument("--rounds", type=int, default=5, help="--interleave: alternations of the two paths")
    parser.add_argument("--batch", type=int, default=PAPER_BATCH,
                        help="training and arch images per step, ours and the official (default: the papers' 64); "
                             "--batch 2 measures the per-step fixed cost that no batch size amortises")
    parser.add_argument("--split-batch", type=int, metavar="B",
                        help="also run each configuration at batch B (ours and the official alike) and split the "
                             "step at --batch into its fixed and batch-dependent parts (issue 15's floor)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the reference machine: 2)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--bf16", choices=("off", "on", "both"), default=None,
                        help="bf16 autocast (default: off on CPU, both on GPU)")
    parser.add_argument("--compile", action="store_true",
                        help="run.compile=true: torch.compile the supernet (warm-up includes compiling; GDAS recompiles "
                             "for every new hard sample)")
    parser.add_argument("--compile-mode", default="default",
                        choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
                        help="run.compile_mode with --compile (reduce-overhead: CUDA graphs on a GPU)")
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON")
    parser.add_argument("--breakdown", action="store_true",
                        help="after timing, profile a few steps: ms per kind of op, ops (GPU kernels) per step, conv "
                             "FLOP/s (benchmarks/op_breakdown.py); with --official-src, the official step's too")
    parser.add_argument("--official-src", type=Path, action="append",
                        help="checkout of github.com/xiangning-chen/DrNAS (drnas-*) or D-X-Y/AutoDL-Projects (darts-nb201, "
                             "gdas-nb201), repeatable: time the official step in the same process, alternating rounds "
                             "with ours (benchmarks/official_step.py), and take the ratio to that (the process RSS "
                             "then covers both)")
    parser.add_argument("--list", action="store_true", help="list the configurations and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="fast", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.split_batch is not None and not 0 < args.split_batch < args.batch:
        parser.error(f"--split-batch {args.split_batch}: must be a batch between 1 and --batch ({args.batch}) "
                     "exclusive, e.g. --split-batch 2")
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        args.config = args.config[0]
        args.interleave = args.path == "both"
        args.bf16 = args.bf16 == "on"
        print("STEP_TIME " + json.dumps([asdict(m) for m in worker(args)]), flush=True)
        return
    if args.list:
        for name, cfg in CONFIGS.items():
            print(f"{name:<16} {cfg.recipe:<32} {cfg.note}")
        return
    if args.official_src:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from official_step import repo_of

        for src in args.official_src:
            if repo_of(src) is None:
                raise SystemExit(f"step_time: --official-src {src} is a checkout of neither xiangning-chen/DrNAS nor "
                                 "D-X-Y/AutoDL-Projects (their NAS-Bench-201 search code is what the ratio compares "
                                 "with); clone one and pass its path.")
    bf16_modes = {"off": [False], "on": [True], "both": [False, True]}[
        args.bf16 or ("both" if args.device.startswith("cuda") else "off")]
    rows: list[Measurement] = []
    for name in args.config or list(CONFIGS):
        for bf16 in bf16_modes:
            for path in args.paths or ["fast"]:
                got = [m for batch in ([args.split_batch] if args.split_batch else []) + [args.batch]
                       for m in _spawn(name, path, replace_args(args, batch=batch), bf16)]
                rows.extend(got)
                for m in got:
                    print(f"# {m.config} {m.path} bf16={m.bf16}: {m.ms_iter:.0f} ms/iter, peak {m.peak_gb:.2f} GB",
                          file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) | {"projection_h": projection_hours(m)} for m in rows], indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
