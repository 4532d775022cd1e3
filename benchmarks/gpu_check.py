"""The prepared device check of issue 15: one command, one JSON and one Markdown summary.

Sections (each runs in subprocesses of its own; a failing section is recorded and the others go on):

* ``env``: Python, torch, CUDA/cuDNN, device name and memory, git commit.
* ``cuda_tests``: ``pytest -m cuda`` over :data:`CUDA_TEST_FILES` (``tests/test_cuda.py``: fused vs
  plain on the device, fp32 tight and bf16 with a stated tolerance, compiled with CUDA graphs vs
  eager, a step and a short epoch of
  every shipped recipe and every sampler, resuming, network morphism, a black-box search, a
  latency table; ``tests/test_conformance.py``:
  every registered evaluator scores on the device as on the CPU); on ``--device cpu`` the same
  tests as a CPU dry run (``AUTOML_NAS_CUDA_TESTS=cpu``).
* ``step_time``: ``benchmarks/step_time.py`` for every configuration, fp32 and bf16, eager and
  compiled, most decisive first (:func:`step_runs`), while half of ``--budget-s`` lasts (the
  rest is listed as skipped) (``run.compile``, on a GPU with ``run.compile_mode = "reduce-overhead"``: CUDA graphs; GDAS is
  measured eager only: its hard samples change the graph, so
  dynamo recompiles for every new sample, 57-96 s per step on 2 CPU cores). The eager fp32 rows
  also carry the floor (``--breakdown``: ms per kind of op, GPU kernels per step, the convolutions'
  achieved FLOP/s next to a large 3x3 convolution's), and with ``--official-src`` the official
  DrNAS, DARTS-V1 and GDAS steps timed beside ours in the same process.
* ``search``: a 2-epoch real search of GDAS and DrNAS at paper size (C=16, N=5, batch 64) on the
  5k CIFAR-10 images of ``../shared/data/cifar10-5k.npz`` (then DARTS and SNAS while 3/4 of the
  budget lasts), checkpointing every epoch as a real run does. The 2nd epoch's wall time is split
  into the step loop (data loading, arch and weight steps), the validation passes, the checkpoint
  and the rest; the paper-length search is projected from those rates (390 steps and 25k
  validation images per pass per epoch, x the paper's epochs).
* ``seeds``: 1 vs 4 concurrent GDAS seed processes on one device (timed together after a
  barrier): aggregate images/s and the ratio (target >= 3x).
* ``ray_seeds``: the same through the executor, as users run seeds: ``automl run --seeds 1-N
  --executor ray`` with ``executor.gpus = 1/N`` (fractional GPUs), 2 epochs per trial, timed from
  the epoch lines the trials stream to the driver; each trial's device and Ray's GPU ids. Needs
  ``ray`` (the device image has none: ``scripts/gpu_session.sh --prepare`` carries a pruned wheel).
* peak memory: per step-time configuration and per search (CUDA max allocated, else process RSS).
* the summary ends with the issue's targets and a verdict each (:func:`targets`), and with the
  defaults the step-time rows decide (:func:`decisions`): ``run.compile`` per configuration, bf16's
  speed, and GDAS' form (eager, or one static graph of all ops).

Time: the summary is written after every section, and ``--deadline-s`` (default 540 s) stops
subprocesses still running then and skips the sections left, so a check cut short by the caller
keeps what it measured.

``--quick`` (for ``--device cpu``, a few minutes on 2 cores): 2 step-time configurations, fp32
eager, 2 iterations; 4 steps per search epoch; 2 iterations per seed process. ``--smoke`` (the
suite's test): the smallest settings that still run every section (the searches on a C=4, N=1 supernet and 512 images).

Usage:
    bash benchmarks/gpu_check.sh OUT_DIR                      # on a GPU machine (<= 8 min target)
    bash benchmarks/gpu_check.sh OUT_DIR --device cpu --quick
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import tarfile
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cifar10-5k.npz"
PAPER_BATCH = 64  # training and arch images per step
BARRIER_S = 180  # a seed worker waits this long for its siblings before it gives up
PAPER_ITERS = 25_000 // PAPER_BATCH  # NB201 CIFAR-10 search split
PAPER_VALID_IMAGES = 25_000  # the valid half, passed once per epoch (twice with SNAS' child accuracy)
# method -> (recipe, the paper's epochs); the 10-minute targets, in this order.
SEARCHES = {"gdas": ("recipes/gdas.toml", 250), "drnas": ("recipes/drnas.toml", 100),
            "darts": ("recipes/darts-nb201.toml", 50), "snas": ("recipes/snas.toml", 100)}
SEARCH_TARGET_MIN = 10.0
CORE_CONFIGS = ["gdas-nb201", "darts-nb201", "drnas-nb201", "snas-nb201"]  # the four 10-minute targets
CONFIGS_FULL = ["gdas-nb201", "darts-nb201", "drnas-nb201", "drnas-pc-nb201", "drnas-pc2-nb201", "snas-nb201",
                "snas-darts", "darts-darts"]
# The compiled rows: on a GPU with CUDA graphs (the "mode that uses graphs"); a CPU has none.
COMPILE_MODE = {True: "reduce-overhead", False: "default"}
NOT_COMPILED = {"gdas-nb201": "hard samples change the graph: dynamo recompiles per new sample (57-96 s per step "
                              "on 2 CPU cores); GDAS runs eager"}


# step_time rows by kind: (compiled, bf16)
STEP_KINDS = {"eager-fp32": (False, "off"), "compiled-fp32": (True, "off"), "eager-bf16": (False, "on"),
              "compiled-bf16": (True, "on")}


def _settings(args: argparse.Namespace) -> dict:
    s = _mode_settings(args)
    if args.configs:  # a second device call that times what the first had no budget for
        s["configs"] = [c for c in s["configs"] if c in args.configs] or list(args.configs)
    if args.searches:
        s["searches"] = list(args.searches)
    s["kinds"] = list(args.kinds or [])
    if s["kinds"]:  # the kinds asked for, whatever the mode's defaults
        s["compiled"] = sorted({STEP_KINDS[k][0] for k in s["kinds"]})
        s["bf16"] = sorted({STEP_KINDS[k][1] for k in s["kinds"]}, reverse=True)
    return s


def _mode_settings(args: argparse.Namespace) -> dict:
    if args.smoke:
        return dict(configs=["gdas-nb201"], bf16=["off"], compiled=[False], iters=1, warmup=0, search_steps=1,
                    valid_batches=1, seed_iters=1, seeds=[1, 2], tests_k="export", tiny_search=True,
                    searches=["gdas", "drnas"], ray_seeds=[1, 2], ray_steps=1, ray_min_s=0)
    if args.quick:
        return dict(configs=["gdas-nb201", "drnas-nb201"], bf16=["off"], compiled=[False], iters=2, warmup=1,
                    search_steps=4, valid_batches=2, seed_iters=2, seeds=[1, 4], tests_k=None, tiny_search=False,
                    searches=["gdas", "drnas"], ray_seeds=[1, 2], ray_steps=4, ray_min_s=60)
    return dict(configs=CONFIGS_FULL, bf16=["off", "on"], compiled=[False, True], iters=10, warmup=3, search_steps=0,
                # seed_iters: 20 GDAS iterations were well under a second on an H200
                valid_batches=0, seed_iters=100, seeds=[1, 4], tests_k=None, tiny_search=False,
                searches=list(SEARCHES), ray_seeds=[1, 4], ray_steps=60, ray_min_s=150)


def _peak_gb(device: str) -> tuple[float, str]:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30, "cuda allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, "process RSS"


# ---------------------------------------------------------------------------------- sections


def section_env(args, out: Path, s: dict) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "device": args.device, "cpu_count": os.cpu_count(), "platform": platform.platform()}
    if args.device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(args.device))
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cuda_devices=torch.cuda.device_count())
    info["commit"] = _commit()
    return info


def _commit() -> str | None:
    """This checkout's commit; on a device machine, whose copy of the tree has no ``.git`` (and may
    have no git), the one ``gpu_session.sh --prepare`` recorded (``AUTOML_NAS_COMMIT``)."""
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO, timeout=30)
        if git.returncode == 0 and git.stdout.strip():
            return git.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.environ.get("AUTOML_NAS_COMMIT") or None


#: the test files that hold `cuda`-marked tests (a test keeps this list complete)
CUDA_TEST_FILES = ("tests/test_cuda.py", "tests/test_conformance.py")


def section_cuda_tests(args, out: Path, s: dict) -> dict:
    xml = out / "cuda-tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
           *(str(REPO / f) for f in CUDA_TEST_FILES), f"--junitxml={xml}"] + (["-k", s["tests_k"]] if s["tests_k"] else [])
    env = dict(os.environ, **({"AUTOML_NAS_CUDA_TESTS": "cpu"} if args.device == "cpu" else {}))
    # capped: without a cap a slow suite (a real CUDA-graph compile) ate the step-time rows' slot
    until = min(STARTED + args.deadline_s, time.perf_counter() + args.tests_s)
    try:
        proc = _run(cmd, _left(until), cwd=REPO, env=env)
    except subprocess.TimeoutExpired as exc:
        return {"dry_run_on_cpu": args.device == "cpu", "ok": False,
                "tail": f"stopped after --tests-s ({args.tests_s:.0f} s) or at the --deadline-s ({args.deadline_s:.0f} s); "
                        f"its output so far: " + (exc.stdout or "")[-1500:]}
    suite = ET.parse(xml).getroot() if xml.exists() else None
    suite = suite.find("testsuite") if suite is not None and suite.tag == "testsuites" else suite
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")} if suite is not None else {}
    return {"exit_code": proc.returncode, "dry_run_on_cpu": args.device == "cpu", **counts,
            "tail": proc.stdout[-1500:], "ok": proc.returncode == 0 and counts.get("tests", 0) > 0}


#: The subprocesses running now: a check stopped by Ctrl-C, SIGTERM or its caller's timeout takes
#: them (and their children) with it.
LIVE: set[subprocess.Popen] = set()


def _started(proc: subprocess.Popen) -> subprocess.Popen:
    LIVE.add(proc)
    return proc


def _run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` whose timeout stops the command and every process it started: step_time.py
    measures in a child of its own, which outlived its killed driver and went on compiling and
    stepping through the later sections' timings. On a timeout the output so far rides on the
    exception (``.stdout``/``.stderr``)."""
    proc = _started(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_tree(proc)
        try:  # a grandchild that left the tree (re-parented) may still hold the pipes: not waited for
            exc.stdout, exc.stderr = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            exc.stdout, exc.stderr = "", "(its output is held by a process that left it)"
            proc.stdout.close()
            proc.stderr.close()
            proc.wait()
        LIVE.discard(proc)
        raise
    LIVE.discard(proc)  # not on Ctrl-C or SIGTERM: main's cleanup kills what is still LIVE
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``: a device machine's; empty elsewhere)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and everything it started. The children stay in the check's process group
    (a caller's Ctrl-C or timeout signals them too, which a session of their own escaped). The
    tree is frozen first (SIGSTOP), walked again until no new process appears, then killed: a
    parent killed last could start children during the kill."""
    if proc.poll() is not None:  # reaped: its pid may be another process's by now
        return
    frozen: list[int] = []
    while True:
        new = [pid for pid in [proc.pid, *_descendants(proc.pid)] if pid not in frozen]
        if not new:
            break
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        frozen += new
    for pid in frozen:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_all() -> None:
    for proc in list(LIVE):
        _kill_tree(proc)
        LIVE.discard(proc)


def step_runs(s: dict) -> list[tuple[bool, str, str]]:
    """``(compiled, bf16, config)`` in the order the issue's decisions need them, so that what a
    short budget drops matters least: the four NAS-Bench-201 methods' eager fp32 steps, then
    their eager bf16 steps (seconds each), then compiled fp32 (CUDA graphs vs eager; a compile
    takes minutes, so they come after the cheap rows), then the other configurations' eager fp32,
    then the rest (the configurations' own order within each tier)."""
    def tier(run: tuple[bool, str, str]) -> int:
        compiled, bf16, name = run
        core, fp32 = name in CORE_CONFIGS, bf16 == "off"
        if core:
            return 0 if fp32 and not compiled else 1 if not compiled else 2 if fp32 else 4
        return 3 if fp32 and not compiled else 5

    kinds = {STEP_KINDS[k] for k in s.get("kinds") or STEP_KINDS}
    return sorted([(c, b, n) for c in s["compiled"] for b in s["bf16"] for n in s["configs"] if (c, b) in kinds], key=tier)


def _left(until: float) -> float:
    """Seconds a subprocess may still take before ``until`` (a perf_counter time); at least 1."""
    return max(1.0, until - time.perf_counter())


def section_step_time(args, out: Path, s: dict) -> dict:
    """The runs of :func:`step_runs` while the step-time share of the time budget (half of
    ``--budget-s``, from this section's start) lasts; a run still going at that share plus a
    minute (or at the --deadline-s) is stopped. What does not fit, or was stopped for time, is
    listed as skipped (not failed: nothing broke)."""
    rows, skipped, failed = [], [], []
    # Half of --budget-s from its own start (a slow cuda_tests took the rows' slot), but not past 0.6 of
    # it from the check's start (the searches after it need their share), nor the --deadline-s.
    ends = {"the step-time share of --budget-s": min(time.perf_counter() + args.budget_s / 2, STARTED + 0.6 * args.budget_s),
            "the --deadline-s (less a minute)": STARTED + args.deadline_s - 60}
    limit = min(ends, key=ends.get)
    deadline = ends[limit]
    for compiled, bf16, name in step_runs(s):
        if compiled and name in NOT_COMPILED:
            skipped.append({"config": name, "bf16": bf16, "compiled": True, "why": NOT_COMPILED[name]})
            continue
        if time.perf_counter() > deadline:
            skipped.append({"config": name, "bf16": bf16, "compiled": compiled,
                            "why": f"no time left: past {limit}"})
            continue
        target = out / f"step-{name}-{bf16}-{'compiled' if compiled else 'eager'}.json"
        cmd = [sys.executable, str(REPO / "benchmarks" / "step_time.py"), "--config", name, "--device", args.device,
               "--bf16", bf16, "--iters", str(s["iters"]), "--warmup", str(s["warmup"] + (2 if compiled else 0)),
               "--json", str(target)] + (["--compile", "--compile-mode", COMPILE_MODE[args.device.startswith("cuda")]]
                                         if compiled else [])
        if not compiled and bf16 == "off":  # the floor: ms by kind of op, kernels per step, conv FLOP/s
            cmd += ["--breakdown"] + [arg for src in args.official_src or [] for arg in ("--official-src", src)]
        try:
            proc = _run(cmd, _left(min(deadline + 60, STARTED + args.deadline_s)), cwd=REPO)
        except subprocess.TimeoutExpired as exc:
            skipped.append({"config": name, "bf16": bf16, "compiled": compiled,
                            "why": f"stopped: still running a minute past {limit}",
                            "tail": (exc.stderr or "")[-800:]})
            continue
        if proc.returncode != 0 or not target.exists():
            failed.append({"config": name, "bf16": bf16, "compiled": compiled, "tail": proc.stderr[-1500:]})
            continue
        rows.extend(json.loads(target.read_text()))
    # A row skipped for time is no failure (the check exited 1 with nothing broken), but a section that measured
    # no row at all is: a device call that exits 0 with an empty table reads as a check that worked.
    attempted = [sk for sk in skipped if not (sk["compiled"] and sk["config"] in NOT_COMPILED)]
    section = {"rows": rows, "skipped": skipped, "failed": failed, "ok": not failed and (bool(rows) or not attempted)}
    if not rows and attempted:
        section["error"] = (f"no row measured: all {len(attempted)} ran out of time (raise --budget-s, or time fewer "
                            f"rows with --configs/--kinds)")
    return section


def section_search(args, out: Path, s: dict) -> dict:
    """GDAS and DrNAS always (the issue's check); DARTS and SNAS while 3/4 of the budget lasts."""
    got, skipped, ok = {}, [], True
    for method in s["searches"]:
        if method not in ("gdas", "drnas") and time.perf_counter() > STARTED + 0.75 * args.budget_s:
            skipped.append({"method": method, "why": f"over 3/4 of --budget-s ({args.budget_s:.0f} s)"})
            continue
        cmd = [sys.executable, __file__, "--search-worker", method, "--device", args.device, "--data", args.data, str(out)]
        cmd += ["--search-steps", str(s["search_steps"]), "--valid-batches", str(s["valid_batches"])]
        cmd += ["--tiny-search"] if s["tiny_search"] else []
        cmd += [arg for override in args.search_set or [] for arg in ("--search-set", override)]
        try:
            proc = _run(cmd, _left(STARTED + args.deadline_s), cwd=REPO)
        except subprocess.TimeoutExpired:
            got[method], ok = {"error": f"stopped at the --deadline-s ({args.deadline_s:.0f} s)"}, False
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("GPU_CHECK ")]
        if proc.returncode != 0 or not lines:
            got[method] = {"error": proc.stderr[-1500:]}
            ok = False
            continue
        got[method] = json.loads(lines[-1][len("GPU_CHECK "):])
    return {"runs": got, "skipped": skipped, "ok": ok}


def section_seeds(args, out: Path, s: dict) -> dict:
    result = {}
    for n in s["seeds"]:
        barrier = out / f"seeds-{n}"
        shutil.rmtree(barrier, ignore_errors=True)  # an earlier run's ready-* files released the barrier at once
        barrier.mkdir()
        logs = [(barrier / f"worker-{i}.out", barrier / f"worker-{i}.err") for i in range(n)]
        procs = []
        for i, (stdout, stderr) in enumerate(logs):
            with stdout.open("w") as o, stderr.open("w") as e:  # files: no pipe to drain while polling
                procs.append(_started(subprocess.Popen(
                    [sys.executable, __file__, "--seed-worker", str(i), "--workers", str(n), "--device", args.device,
                     "--iters", str(s["seed_iters"]), str(barrier)] + (["--tiny-search"] if s["tiny_search"] else []),
                    stdout=o, stderr=e, text=True, cwd=REPO)))
        until = STARTED + args.deadline_s
        # A worker that fails stops the others at once: they would wait at the barrier for it
        # (BARRIER_S), and its own error, not theirs, says what went wrong.
        while None in [p.poll() for p in procs]:  # every worker polled: any() stopped at the first running one
            broken = sorted((i for i, p in enumerate(procs) if p.returncode not in (None, 0)),
                            key=lambda i: "were not ready" in logs[i][1].read_text())  # the cause before its victims
            if broken or time.perf_counter() > until:
                for p in procs:
                    _kill_tree(p)
                for p in procs:
                    p.wait()
                LIVE.difference_update(procs)
                if broken:
                    return {"error": f"seed worker {broken[0]} of {n} failed: "
                                     + logs[broken[0]][1].read_text()[-1500:], "ok": False}
                return {"error": f"{n} seed process(es) stopped at the --deadline-s ({args.deadline_s:.0f} s)",
                        "ok": False}
            time.sleep(0.2)
        LIVE.difference_update(procs)

        def report_of(i: int) -> dict | None:
            lines = [ln for ln in logs[i][0].read_text().splitlines() if ln.startswith("GPU_CHECK ")]
            return json.loads(lines[-1][len("GPU_CHECK "):]) if procs[i].returncode == 0 and lines else None

        reports = [report_of(i) for i in range(n)]
        failed = sorted((i for i in range(n) if reports[i] is None),
                        key=lambda i: "were not ready" in logs[i][1].read_text())  # the cause before its victims
        if failed:
            return {"error": f"seed worker {failed[0]} of {n}: " + logs[failed[0]][1].read_text()[-1500:], "ok": False}
        wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
        images = sum(r["images"] for r in reports)
        result[str(n)] = {"processes": n, "images": images, "wall_s": wall, "img_per_s": images / wall,
                          "peak_gb_per_process": max(r["peak_gb"] for r in reports), "peak_kind": reports[0]["peak_kind"]}
    lo, hi = (str(n) for n in s["seeds"])
    result["throughput_ratio"] = result[hi]["img_per_s"] / result[lo]["img_per_s"]
    result["ok"] = True
    return result


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


_EPOCH_LINE = re.compile(r"^trial seed-(\d+): epoch (\d+)/")


def _timed_stderr(cmd: list[str], stdout: Path, until: float) -> tuple[int | None, list[tuple[float, str]]]:
    """Run ``cmd``, stamping each stderr line with the driver's clock as it arrives; stopped at
    ``until``. Returns the exit code (None when stopped) and the stamped lines."""
    with stdout.open("w") as sink:
        proc = _started(subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, text=True, cwd=REPO))
        stopped = threading.Event()
        watchdog = threading.Timer(_left(until), lambda: (stopped.set(), _kill_tree(proc)))
        watchdog.start()
        try:
            lines = [(time.perf_counter(), line.rstrip("\n")) for line in proc.stderr]
            code = proc.wait()
        finally:
            watchdog.cancel()
    LIVE.discard(proc)
    return (None if stopped.is_set() else code), lines


def section_ray_seeds(args, out: Path, s: dict) -> dict:
    """1 vs 4 GDAS seed trials through the executor on Ray (``automl run --seeds 1-N --executor
    ray``), each reserving ``1/N`` of the GPU (``executor.gpus``; ``run.device = "auto"`` then
    becomes ``cuda`` in the trial), at paper size on the 5k images, 2 epochs each.

    A trial's rate is its 2nd epoch (steps, validation and checkpoint) timed on the driver's
    clock, between the epoch lines the executor streams from the trial; the aggregate is the sum
    of the trials' rates, and ``overlap`` is the share of the mean 2nd epoch that all N trials ran
    together (near 1: the sum is a concurrent throughput). Each trial's ``env.json`` says which GPU
    Ray gave it. Not run where ``ray`` is not installed (the device image has none:
    ``scripts/gpu_session.sh --prepare`` carries a pruned wheel).
    """
    if not _importable("ray"):
        return {"ok": True, "not_run": "ray is not installed here (for the device: scripts/gpu_session.sh --prepare)"}
    left = _left(STARTED + args.deadline_s)
    if left < s["ray_min_s"]:  # two Ray batches would be stopped half-way: say so instead of failing
        return {"ok": True, "not_run": f"{left:.0f} s were left before --deadline-s and two Ray batches take "
                                      f"~{s['ray_min_s']} s: run it alone (--sections env,ray_seeds)"}
    on_gpu, result = args.device.startswith("cuda"), {}
    for n in s["ray_seeds"]:
        batch = out / f"ray-seeds-{n}-{time.strftime('%H%M%S')}"
        resources = ([f"executor.gpus={1 / n!r}", f"executor.cpus={max(1, (os.cpu_count() or n) // n)}"] if on_gpu
                     else ["executor.gpus=0", f"executor.cpus={max(0.5, (os.cpu_count() or n) / n)!r}"])
        cmd = [sys.executable, "-c", "from automl_nas.cli import main; main()", "run", str(REPO / SEARCHES["gdas"][0]),
               "--seeds", f"1-{n}", "--executor", "ray", "--run-dir", str(batch)]
        for override in _search_overrides(args.data, s["tiny_search"], s["ray_steps"], 2) + resources:
            cmd += ["--set", override]
        started = time.perf_counter()
        code, lines = _timed_stderr(cmd, out / f"ray-seeds-{n}.json", STARTED + args.deadline_s)
        if code != 0:
            why = "stopped at the --deadline-s" if code is None else f"exit code {code}"
            return {**result, "error": f"{n} seed(s) on Ray: {why}: " + "\n".join(text for _, text in lines[-20:]),
                    "ok": False}
        epoch_ends: dict[int, dict[int, float]] = {}
        for stamp, text in lines:
            if match := _EPOCH_LINE.match(text):
                epoch_ends.setdefault(int(match[1]), {})[int(match[2])] = stamp
        trials = {}
        for seed in range(1, n + 1):
            ends, run_dir = epoch_ends.get(seed, {}), batch / f"seed-{seed}"
            if not {1, 2} <= set(ends):
                return {**result, "error": f"seed {seed} streamed no 2nd epoch", "ok": False}
            env = json.loads((run_dir / "env.json").read_text())
            epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            images = s["ray_steps"] * 2 * PAPER_BATCH  # a weight and an arch batch per step
            trials[seed] = {"epoch2_s": ends[2] - ends[1], "img_per_s": images / (ends[2] - ends[1]),
                            "epoch2_steps_s": epochs[1]["epoch_time_s"],  # the trial's own clock, step loop only
                            "epoch_ends": (ends[1], ends[2]), "device": env.get("device"),
                            "gpu_ids": env.get("executor", {}).get("gpu_ids"),
                            "resources": env.get("executor", {}).get("resources")}
        shared = min(t["epoch_ends"][1] for t in trials.values()) - max(t["epoch_ends"][0] for t in trials.values())
        mean_epoch = sum(t["epoch2_s"] for t in trials.values()) / n
        first_epoch = min(stamp for ends in epoch_ends.values() for stamp in ends.values())
        result[str(n)] = {"trials": n, "img_per_s": sum(t["img_per_s"] for t in trials.values()),
                          "overlap": max(0.0, shared) / mean_epoch, "wall_s": time.perf_counter() - started,
                          "start_s": first_epoch - started, "batch": str(batch),
                          "per_trial": {str(k): {key: v for key, v in t.items() if key != "epoch_ends"}
                                        for k, t in trials.items()}}
    lo, hi = (str(n) for n in s["ray_seeds"])
    result["throughput_ratio"] = result[hi]["img_per_s"] / result[lo]["img_per_s"]
    devices = {t["device"] for r in (result[lo], result[hi]) for t in r["per_trial"].values()}
    result["ok"] = devices == {"cuda" if on_gpu else "cpu"}
    if not result["ok"]:
        result["error"] = f"the trials ran on {sorted(devices)}, not on the device the executor reserved"
    return result


STARTED = time.perf_counter()
SECTIONS = {"env": section_env, "cuda_tests": section_cuda_tests, "step_time": section_step_time,
            "search": section_search, "seeds": section_seeds, "ray_seeds": section_ray_seeds}


# ---------------------------------------------------------------------------------- workers


class _EpochClock:
    """Where each epoch of a real search spends its wall time (issue 15: the projection of a paper
    search includes data loading, the arch step, the per-epoch validation and the checkpoint).

    A lifecycle plugin stamps the run start and every epoch end (the wall time in between is the
    whole epoch: steps, validation, derive, diagnostics, record, checkpoint); the engine's own
    ``epoch_time_s`` is the step loop with its data loading; the validation passes and the
    checkpoint saves are timed around the engine's own calls (``Search.valid_accuracy``,
    ``checkpoint.save``) in this worker process only.
    """

    def __init__(self) -> None:
        self.steps = 0  # steps per epoch, as the engine reports them
        self.stamps: list[float] = []  # run start, then each epoch end
        # since the last epoch end: validation seconds, images and passes; checkpoint seconds
        self.valid_s, self.valid_images, self.valid_passes, self.checkpoint_s = 0.0, 0, 0, 0.0
        self.epochs: list[dict] = []

    def plugin(self):
        from automl_nas import hookimpl

        clock = self

        class Hooks:
            @hookimpl
            def automl_run_start(self, run):
                clock.stamps.append(time.perf_counter())

            @hookimpl
            def automl_step_end(self, run, epoch, step, metrics):
                clock.steps = int(metrics["steps"])

            @hookimpl
            def automl_epoch_end(self, run, epoch, metrics, record):
                clock.stamps.append(time.perf_counter())
                wall = clock.stamps[-1] - clock.stamps[-2]
                clock.epochs.append({"wall_s": wall, "steps_s": record.epoch_time_s, "valid_s": clock.valid_s,
                                     "valid_images": clock.valid_images, "valid_passes": clock.valid_passes,
                                     "checkpoint_s": clock.checkpoint_s,
                                     "other_s": wall - record.epoch_time_s - clock.valid_s - clock.checkpoint_s})
                clock.valid_s, clock.valid_images, clock.valid_passes, clock.checkpoint_s = 0.0, 0, 0, 0.0

        return Hooks()

    def install(self) -> None:
        """Time the engine's validation passes (and count their images) and checkpoint saves."""
        from automl_nas.engine import checkpoint
        from automl_nas.engine.run import Search

        clock, valid_accuracy, batches, save = self, Search.valid_accuracy, Search._valid_batches, checkpoint.save

        def timed_valid(search, *a, **k):
            started = time.perf_counter()
            try:
                return valid_accuracy(search, *a, **k)
            finally:
                clock.valid_s += time.perf_counter() - started
                clock.valid_passes += 1

        def counted_batches(search):
            for x, y in batches(search):
                clock.valid_images += len(y)
                yield x, y

        def timed_save(*a, **k):
            started = time.perf_counter()
            try:
                return save(*a, **k)
            finally:
                clock.checkpoint_s += time.perf_counter() - started

        Search.valid_accuracy, Search._valid_batches, checkpoint.save = timed_valid, counted_batches, timed_save


def paper_epoch_s(epoch: dict, steps: int) -> float:
    """One epoch of the paper's search at the measured rates: 390 steps, a validation pass over the
    25k-image valid split per pass the method makes, the checkpoint and the rest as measured."""
    per_image = epoch["valid_s"] / epoch["valid_images"] if epoch["valid_images"] else 0.0
    return (PAPER_ITERS * epoch["steps_s"] / steps + PAPER_VALID_IMAGES * epoch["valid_passes"] * per_image
            + epoch["checkpoint_s"] + epoch["other_s"])


def _search_overrides(data: str, tiny: bool, steps: int, valid_batches: int) -> list[str]:
    """A 2-epoch search on the 5k images, scored without a benchmark table (none travels);
    ``steps``/``valid_batches`` 0: whole epochs and validation passes."""
    limit = ", limit=512" if tiny else ""
    overrides = [f'data={{name="npz", path="{Path(data).resolve()}", batch_size={PAPER_BATCH}{limit}}}', "search.epochs=2",
                 'evaluator={name="analog-nasbench"}']
    if tiny:  # --smoke: the test suite checks the plumbing, not the figures
        overrides += ["space.channels=4", "space.cells_per_stage=1"]
    if steps:
        overrides.append(f"search.steps_per_epoch={steps}")
    if valid_batches:
        overrides.append(f"search.valid_batches={valid_batches}")
    return overrides


def search_worker(args) -> dict:
    import torch

    from automl_nas.session import open_session

    recipe, paper_epochs = SEARCHES[args.search_worker]
    clock = _EpochClock()
    clock.install()
    session = open_session([(clock.plugin(), "gpu-check-epoch-clock")])
    overrides = _search_overrides(args.data, args.tiny_search, args.search_steps, args.valid_batches)
    overrides += [f"run.device={args.device!r}", f"run.root={str(Path(args.out) / 'runs')!r}", *(args.search_set or [])]
    if args.device == "cpu":
        overrides.append("run.threads=2")
    plan = session.plan(REPO / recipe, overrides=overrides)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = session.execute(plan, quiet=True)
    steady = clock.epochs[-1]  # the 2nd epoch: allocator and kernels warm
    peak, kind = _peak_gb(args.device)
    return {"method": args.search_worker, "recipe": recipe, "steps_per_epoch": clock.steps,
            "epoch_time_s": [e["steps_s"] for e in clock.epochs],
            "epochs": clock.epochs, "s_per_step": steady["steps_s"] / clock.steps, "paper_epochs": paper_epochs,
            "paper_steps_per_epoch": PAPER_ITERS, "paper_valid_images": PAPER_VALID_IMAGES,
            "projected_paper_epoch_s": paper_epoch_s(steady, clock.steps),
            "projected_paper_search_min": paper_epoch_s(steady, clock.steps) * paper_epochs / 60,
            "peak_gb": peak, "peak_kind": kind, "genotype": result.get("genotype"), "paper_size": not args.tiny_search}


def seed_worker(args) -> dict:
    import tempfile

    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from step_time import build_search

    from automl_nas.testing import build_search as build_recipe_search

    barrier = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="gpu-check-seed-") as tmp:
        if args.tiny_search:  # --smoke: the quick profile's supernet (plumbing only)
            search = build_recipe_search(REPO / "recipes" / "gdas.toml", root=tmp, profile="quick", device=args.device,
                                         overrides=[f"run.device={args.device!r}", "run.threads=1"])
        else:
            search = build_search("gdas-nb201", fast=True, device=args.device, threads=1 if args.device == "cpu" else 2,
                                  bf16=False, workdir=Path(tmp))
        torch.manual_seed(args.seed_worker)
        train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
        batches = [(next(train), next(arch)) for _ in range(4)]

        def iteration(i):
            (x, y), (xv, yv) = batches[i % len(batches)]
            search.arch_step(xv, yv, x, y)
            search.weight_step(x, y)

        for i in range(3):  # warm-up (allocator, cuDNN's algorithm choice)
            iteration(i)
        (barrier / f"ready-{args.seed_worker}").touch()
        waited = time.perf_counter()
        while len(list(barrier.glob("ready-*"))) < args.workers:
            if time.perf_counter() - waited > BARRIER_S:  # a sibling died before it was ready
                raise SystemExit(f"seed worker {args.seed_worker}: the other workers were not ready after {BARRIER_S} s")
            time.sleep(0.01)
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
        sync()
        start = time.time()
        for i in range(args.iters):
            iteration(i)
        sync()
        end = time.time()
    peak, kind = _peak_gb(args.device)
    return {"start": start, "end": end, "images": args.iters * 2 * len(batches[0][0][0]), "peak_gb": peak, "peak_kind": kind}


# ---------------------------------------------------------------------------------- report


def markdown(report: dict) -> str:
    env = report["sections"].get("env", {})
    lines = [f"# gpu_check ({report['mode']}, device {report['device']})", "",
             f"{report['finished']}; {report['total_s']:.0f} s in all; torch {env.get('torch')}, CUDA {env.get('cuda')}, "
             f"{env.get('gpu', 'no GPU')}; commit {env.get('commit')}", ""]
    if report["device"] == "cpu":
        lines += ["**CPU run: the GPU figures of issue 15 are still to be measured** (run this script on a GPU).", ""]
    for name, sec in report["sections"].items():
        why = f": {str(sec['error']).strip().splitlines()[-1][:300]}" if not sec.get("ok", True) and sec.get("error") else ""
        lines.append(f"- {name}: {'ok' if sec.get('ok', True) else 'FAILED'} ({report['seconds'][name]:.0f} s){why}")
    tests = report["sections"].get("cuda_tests", {})
    if tests:
        lines += ["", "## cuda tests" + (" (CPU dry run)" if tests.get("dry_run_on_cpu") else ""), "",
                  f"{tests.get('tests', 0)} run, {tests.get('failures', 0)} failed, {tests.get('errors', 0)} errors"]
    rows = report["sections"].get("step_time", {}).get("rows", [])
    if rows:
        lines += ["", "## step time (step_time.py; ms per weight + arch iteration)", "",
                  "| config | bf16 | compiled | median ms | fastest ms | img/s | peak GB | paper search h "
                  "| official ms (same process) | ratio |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            proj = f"{r['projection_h']:.2f}" if r.get("projection_h") is not None else "-"
            off = r.get("official_ms_measured")
            vs_official = (f"{off:.0f} | {r['ms_iter'] / off:.2f}") if off else "- | -"
            graphs = (f"; {r['graphs']} graphs, {r['graph_breaks']} breaks" if r.get("graphs") is not None else "")
            graphs += f", {r['cudagraph_skips']} CUDA-graph skips" if r.get("cudagraph_skips") else ""
            compiled = f"yes ({r.get('compile_mode') or 'default'}{graphs})" if r.get("compiled") else "no"
            lines.append(f"| {r['config']} | {'on' if r['bf16'] else 'off'} | {compiled} | "
                         f"{r['ms_iter']:.0f} | {r['ms_min']:.0f} | {r['img_per_s']:.0f} | {r['peak_gb']:.2f} ({r['peak_kind']}) | {proj} "
                         f"| {vs_official} |")
    for r in rows:
        for who, key in (("ours", "breakdown"), ("official", "official_breakdown")):
            if r.get(key):
                lines += ["", f"{r['config']} ({who}) breakdown:", "", "```", *r[key], "```"]
    for sk in report["sections"].get("step_time", {}).get("skipped", []):
        lines.append(f"\n{sk['config']} bf16 {sk['bf16']} {'compiled' if sk['compiled'] else 'eager'}: "
                     f"not measured: {sk['why']}")
    runs = report["sections"].get("search", {}).get("runs", {})
    if runs:
        sets = report.get("search_set") or []
        lines += ["", "## 2-epoch searches at paper size (cifar10-5k)" + (f", with {', '.join(sets)}" if sets else ""), "",
                  "2nd epoch's wall time split into the step loop (data loading, arch and weight steps), the "
                  "validation passes, the checkpoint and the rest (derive, diagnostics, records); the paper's "
                  f"epoch is projected as {PAPER_ITERS} steps + {PAPER_VALID_IMAGES:,} validation images per pass "
                  "+ checkpoint + rest at these rates.", "",
                  "| method | steps/epoch | epoch wall s | steps / valid / ckpt / other s | s/step "
                  "| valid ms per 1k images | projected paper search (min) | peak GB |",
                  "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
        for m, r in runs.items():
            if "error" in r:
                lines.append(f"| {m} | failed | | | | | | |")
                continue
            e = r["epochs"][-1]
            per_k = 1e6 * e["valid_s"] / e["valid_images"] if e["valid_images"] else 0.0
            walls = ", ".join(f"{x['wall_s']:.1f}" for x in r["epochs"])
            lines.append(f"| {m} | {r['steps_per_epoch']} | {walls} | "
                         f"{e['steps_s']:.1f} / {e['valid_s']:.1f} ({e['valid_passes']}x) / {e['checkpoint_s']:.2f} / "
                         f"{e['other_s']:.2f} | {r['s_per_step']:.3f} | {per_k:.0f} | "
                         f"{r['projected_paper_search_min']:.1f} ({r['paper_epochs']} epochs) | {r['peak_gb']:.2f} |")
    for sk in report["sections"].get("search", {}).get("skipped", []):
        lines.append(f"\n{sk['method']} search: not run: {sk['why']}")
    seeds = report["sections"].get("seeds", {})
    if "throughput_ratio" in seeds:
        lines += ["", "## concurrent seeds (GDAS, paper size)", ""]
        for k, v in seeds.items():
            if isinstance(v, dict):
                lines.append(f"- {k} process(es): {v['img_per_s']:.0f} img/s in all, peak {v['peak_gb_per_process']:.2f} GB "
                             f"per process ({v['peak_kind']})")
        lines.append(f"- throughput ratio: {seeds['throughput_ratio']:.2f}x (target on a GPU: >= 3x for 4 seeds)")
    ray_seeds = report["sections"].get("ray_seeds", {})
    if "not_run" in ray_seeds:
        lines += ["", "## seed trials on Ray (the executor)", "", f"- not run: {ray_seeds['not_run']}"]
    elif "throughput_ratio" in ray_seeds:
        lines += ["", "## seed trials on Ray (the executor; GDAS, 2 epochs, each trial 1/N of the device)", ""]
        for k, v in ray_seeds.items():
            if isinstance(v, dict):
                placed = "; ".join(f"seed {seed}: {t['device']}, GPU ids {t['gpu_ids']}, {t['resources']}"
                                   for seed, t in v["per_trial"].items())
                lines.append(f"- {k} trial(s): {v['img_per_s']:.0f} img/s in all (sum of the trials' 2nd epochs, which "
                             f"overlapped {v['overlap']:.0%}); batch {v['wall_s']:.0f} s, first epoch line after "
                             f"{v['start_s']:.0f} s; {placed}")
        lines.append(f"- throughput ratio: {ray_seeds['throughput_ratio']:.2f}x (target on a GPU: >= 3x for 4 seeds)")
    lines += ["", "## issue 15 targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    lines += [f"| {t.target} | {t.measured} | {t.verdict} |" for t in targets(report)]
    lines += ["", "## defaults these figures decide (fp32 eager is the reference)", "",
              "| option | measured (ms per iteration) | says |", "| --- | --- | --- |"]
    lines += [f"| {d.option} | {d.measured} | {d.says} |" for d in decisions(report)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Target:
    """One row of the summary's verdict table."""

    target: str
    measured: str
    verdict: str


def targets(report: dict) -> list[Target]:
    """The issue's GPU targets against this report's figures. A CPU run or a reduced search (smoke,
    quick) measures no target: its verdicts say so instead of met / not met."""
    sections, on_gpu = report["sections"], report["device"].startswith("cuda")
    full = report["mode"] == "full"

    def verdict(ok: bool, paper_size: bool = True) -> str:
        if not on_gpu:
            return "CPU run: not a GPU figure"
        if not (full and paper_size):
            return "reduced run: no verdict"
        return "met" if ok else "**NOT met**"

    rows = []
    runs = sections.get("search", {}).get("runs", {})
    step_rows = {r["config"]: r for r in sections.get("step_time", {}).get("rows", [])
                 if not r["bf16"] and not r["compiled"]}
    for method, (_, epochs) in SEARCHES.items():
        name = f"{method.upper() if method != 'drnas' else 'DrNAS'}, {epochs} epochs: < {SEARCH_TARGET_MIN:.0f} min"
        run = runs.get(method)
        steps_only_h = step_rows.get(f"{method}-nb201", {}).get("projection_h")
        if run and "error" not in run:
            minutes = run["projected_paper_search_min"]
            sets = f", with {', '.join(report.get('search_set') or [])}" if report.get("search_set") else ""
            rows.append(Target(name, f"{minutes:.1f} min (real 2-epoch search, projected{sets})",
                               verdict(minutes < SEARCH_TARGET_MIN, run["paper_size"])))
        elif steps_only_h is not None:
            minutes = 60 * steps_only_h
            rows.append(Target(name, f"{minutes:.1f} min (step_time steps only: no validation or checkpoint)",
                               verdict(minutes < SEARCH_TARGET_MIN)))
        else:
            rows.append(Target(name, "not measured", "no verdict"))
    seeds, seeds_target = sections.get("seeds", {}), "4 concurrent seeds: >= 3x the throughput of one"
    if "throughput_ratio" in seeds:
        n = max(int(k) for k in seeds if k.isdigit())
        rows.append(Target(seeds_target, f"{seeds['throughput_ratio']:.2f}x with {n}",
                           verdict(n == 4 and seeds["throughput_ratio"] >= 3)))
    else:
        rows.append(Target(seeds_target, "not measured", "no verdict"))
    ray_seeds = sections.get("ray_seeds", {})
    ray_target = "4 seed trials on Ray, 1/4 GPU each: >= 3x the throughput of one"
    if "throughput_ratio" in ray_seeds:
        n = max(int(k) for k in ray_seeds if k.isdigit())
        rows.append(Target(ray_target, f"{ray_seeds['throughput_ratio']:.2f}x with {n} (overlap "
                                       f"{ray_seeds[str(n)]['overlap']:.0%})",
                           verdict(n == 4 and ray_seeds["throughput_ratio"] >= 3)))
    else:
        rows.append(Target(ray_target, ray_seeds.get("not_run", "not measured"), "no verdict"))
    peaks = [f"{r['config']} {r['peak_gb']:.2f} GB" for r in step_rows.values()]
    rows.append(Target("peak memory per configuration", ", ".join(peaks) or "not measured", "reported"))
    return rows


@dataclass(frozen=True)
class Decision:
    """One default that waits for GPU figures: what the step-time rows measured and what they say."""

    option: str
    measured: str
    says: str


# A default changes only for more than this gain: the same step drifts by a few % between runs.
DECISIVE_GAIN = 1.05


def decisions(report: dict) -> list[Decision]:
    """The defaults the issue leaves to measurement, from the fp32/bf16, eager/compiled step rows.

    GDAS' form: its eager supernet runs only the sampled op and reads k* back each sample, so
    dynamo cannot hold it in one graph. The alternative is a static form that runs every op with
    the hard one-hot as weights (same values and gradients; the unselected ops' parameters then
    need their optimizer step skipped, as eager SGD skips a ``None`` gradient). That form does the
    DARTS supernet's work, so ``darts-nb201`` compiled with CUDA graphs is about what it would take.
    """
    from automl_nas.engine.compile_watch import whole

    on_gpu, full = report["device"].startswith("cuda"), report["mode"] == "full"
    rows = report["sections"].get("step_time", {}).get("rows", [])
    ms = {(r["config"], bool(r["bf16"]), bool(r["compiled"])): r["ms_iter"] for r in rows}
    configs = list(dict.fromkeys(r["config"] for r in rows))
    # a compiled row that is not one graph per kind of step measured a partly eager supernet
    broken = {(r["config"], bool(r["bf16"]), True): f"; {r['graphs']} graphs, {r['graph_breaks']} breaks: partly eager"
              for r in rows if r["compiled"] and r.get("graphs") is not None and not whole(r["graphs"], r["graph_breaks"])}
    for r in rows:  # inductor ran some graphs without CUDA graphs: not the figure "reduce-overhead" is labelled
        if r["compiled"] and r.get("cudagraph_skips"):
            key = (r["config"], bool(r["bf16"]), True)
            broken[key] = broken.get(key, "") + f"; {r['cudagraph_skips']} graph(s) without CUDA graphs"

    def says(text: str) -> str:
        if not on_gpu:
            return "CPU run: decides no GPU default"
        return text if full else "reduced run: no decision"

    def speedups(key: tuple[bool, bool]) -> dict[str, float]:
        return {c: ms[(c, False, False)] / ms[(c, *key)] for c in configs
                if (c, False, False) in ms and (c, *key) in ms}

    out = []
    for option, key, what in (("run.compile (reduce-overhead: CUDA graphs)", (False, True), "compiled"),
                              ("run.bf16", (True, False), "bf16")):
        gain = speedups(key)
        if not gain:
            out.append(Decision(option, "not measured", "no decision"))
            continue
        measured = ", ".join(f"{c} {ms[(c, False, False)]:.0f} -> {ms[(c, *key)]:.0f} ms ({g:.2f}x{broken.get((c, *key), '')})"
                             for c, g in gain.items())
        faster = [c for c, g in gain.items() if g > DECISIVE_GAIN]
        if not faster:
            verdict = f"stays off: no configuration is > {DECISIVE_GAIN - 1:.0%} faster {what}"
        elif what == "bf16":  # speed alone does not decide: bf16 changes rounding
            verdict = (f"> {DECISIVE_GAIN - 1:.0%} faster for {', '.join(faster)}: on there only if "
                       "`gpu_session.sh --spread` puts bf16 inside fp32's seed-to-seed spread")
        else:
            verdict = f"on for {', '.join(faster)} (> {DECISIVE_GAIN - 1:.0%} faster {what})"
        out.append(Decision(option, measured, says(verdict)))
    eager, static = ms.get(("gdas-nb201", False, False)), ms.get(("darts-nb201", False, True))
    option = "GDAS' form: eager, or all ops in one static graph"
    if eager is None or static is None:
        out.append(Decision(option, "not measured (needs gdas-nb201 eager and darts-nb201 compiled, fp32)", "no decision"))
    else:
        measured = f"gdas-nb201 eager {eager:.0f} ms; all ops in CUDA graphs ~ darts-nb201 compiled {static:.0f} ms"
        verdict = (f"build the static form: up to {eager - static:.0f} ms per iteration less ({eager / static:.2f}x)"
                   if eager > DECISIVE_GAIN * static else "eager stays: one graph of all ops is not faster")
        out.append(Decision(option, measured, says(verdict)))
    return out


def _names(allowed: list[str], option: str):
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{option}: unknown {unknown or text!r}; choose from {', '.join(allowed)}")
        return names
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="directory for gpu_check.json and gpu_check.md")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="small settings (for --device cpu: a few minutes)")
    p.add_argument("--smoke", action="store_true", help="the smallest settings that run every section (tests)")
    p.add_argument("--data", default=str(DATA),
                   help="the 5k CIFAR-10 npz (default ../shared/data/cifar10-5k.npz; a device machine gets only the "
                        "repository: copy it into an ignored folder that travels)")
    p.add_argument("--budget-s", type=float, default=420.0,
                   help="time budget (s): step-time runs stop at half of it (default 420: the 8-min target)")
    p.add_argument("--deadline-s", type=float, default=540.0,
                   help="hard limit (s): subprocesses still running then are stopped and later sections not run "
                        "(default 540: inside the device tool's 10-minute call); the summary is written after every section")
    p.add_argument("--tests-s", type=float, default=150.0,
                   help="cuda_tests: stop the suite after this many seconds (default 150), so the step-time rows keep "
                        "their slot")
    p.add_argument("--return-to", metavar="DIR",
                   help="after every section, copy the summaries (and a small archive of the per-row JSON) here: a "
                        "device call's $OUT returns at most 8 files, 2 folders deep, so OUT_DIR is a scratch folder")
    p.add_argument("--official-src", action="append",
                   help="checkout of github.com/xiangning-chen/DrNAS or D-X-Y/AutoDL-Projects (repeatable): step_time.py "
                        "times the official DrNAS / DARTS / GDAS step beside ours (eager fp32 rows)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ",".join(SECTIONS))
    p.add_argument("--configs", type=_names(CONFIGS_FULL, "--configs"),
                   help="step_time: only these configurations (comma-separated), e.g. for a second device call")
    p.add_argument("--searches", type=_names(list(SEARCHES), "--searches"),
                   help="search: only these methods (comma-separated: " + ", ".join(SEARCHES) + ")")
    p.add_argument("--search-set", action="append", metavar="KEY=VALUE",
                   help="search: a recipe override for every search (repeatable), e.g. run.compile=true")
    p.add_argument("--kinds", type=_names(list(STEP_KINDS), "--kinds"),
                   help="step_time: only these kinds of row (comma-separated: " + ", ".join(STEP_KINDS) + ")")
    p.add_argument("--search-worker", help=argparse.SUPPRESS)
    p.add_argument("--seed-worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--iters", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--search-steps", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--valid-batches", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--tiny-search", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.search_worker or args.seed_worker is not None:
        report = search_worker(args) if args.search_worker else seed_worker(args)
        print("GPU_CHECK " + json.dumps(report), flush=True)
        return 0
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device here; use --device cpu --quick for the CPU run", file=sys.stderr)
            return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    s = _settings(args)
    report = {"device": args.device, "mode": "smoke" if args.smoke else "quick" if args.quick else "full",
              "settings": s, "sections": {}, "seconds": {}, "search_set": list(args.search_set or [])}
    started, started_at = time.perf_counter(), time.time() - 1  # mtimes have a coarse clock on some file systems
    names = args.sections.split(",")
    signal.signal(signal.SIGTERM, _terminated)  # SIGTERM (a caller's timeout) stops the children too, as Ctrl-C does
    try:
        return _sections(args, out, s, report, names, started, started_at)
    except KeyboardInterrupt:
        print("gpu_check: stopped by Ctrl-C; the summaries hold the sections that finished", file=sys.stderr)
        return 130
    finally:
        _stop_all()


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def _sections(args, out: Path, s: dict, report: dict, names: list[str], started: float, started_at: float) -> int:
    for i, name in enumerate(names):
        t0 = time.perf_counter()
        if t0 > STARTED + args.deadline_s:
            report["sections"][name] = {"ok": False, "error": f"not run: past the --deadline-s ({args.deadline_s:.0f} s)"}
        else:
            try:
                report["sections"][name] = SECTIONS[name](args, out, s)
            except Exception as exc:  # one broken section must not hide the others' figures
                report["sections"][name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        report["seconds"][name] = time.perf_counter() - t0
        print(f"gpu_check: {name}: {'ok' if report['sections'][name].get('ok', True) else 'FAILED'} "
              f"({report['seconds'][name]:.0f} s)", file=sys.stderr, flush=True)
        # After every section: a run cut short by the caller's time limit keeps what it measured.
        report["total_s"] = time.perf_counter() - started
        report["finished"] = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()) if i == len(names) - 1
                              else f"PARTIAL (after {name}; {', '.join(names[i + 1:])} to come)")
        _write(out / "gpu_check.json", json.dumps(report, indent=2))
        _write(out / "gpu_check.md", markdown(report))
        if args.return_to:
            publish(out, Path(args.return_to), since=started_at)
    print(f"gpu_check: wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}"
          + (f"; the summaries are in {args.return_to}" if args.return_to else ""), file=sys.stderr)
    # last in the output, which a device call returns the tail of even when its files do not come back
    text = markdown(report)
    print(text[text.index("## issue 15 targets"):], flush=True)
    return 0 if all(sec.get("ok", True) for sec in report["sections"].values()) else 1


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a check killed mid-write left a truncated JSON."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


#: What comes back from a device call: at most 8 files, 16 MiB each, 2 folders deep. The check's own
#: folder holds far more (search runs with 12 MB checkpoints, Ray batches, one JSON per step row).
RETURNED = ("gpu_check.json", "gpu_check.md", "cuda-tests.xml")
DETAILS = "details.tar.gz"


def publish(out: Path, to: Path, since: float = 0.0) -> list[Path]:
    """Copy the summaries and a small archive of the per-row and per-batch JSON files from ``out``
    into ``to`` (a device call's $OUT), each file whole; only files written since ``since`` (a
    ``time.time()``: an earlier call's files in a reused folder are not this call's). Returns what
    is there."""
    def fresh(path: Path) -> bool:
        return path.is_file() and path.stat().st_mtime >= since

    to.mkdir(parents=True, exist_ok=True)
    for name in (*RETURNED, DETAILS):  # a reused folder's older summaries are not this run's either
        if (to / name).is_file() and not (fresh(out / name) if name != DETAILS else True):
            (to / name).unlink()
    for name in RETURNED:
        if fresh(out / name):
            shutil.copyfile(out / name, to / f".{name}.tmp")
            os.replace(to / f".{name}.tmp", to / name)
    details = sorted(p for p in [*out.glob("step-*.json"), *out.glob("ray-seeds-*.json")] if fresh(p))
    if details:
        with tarfile.open(to / f".{DETAILS}.tmp", "w:gz") as tar:
            for path in details:
                tar.add(path, arcname=path.name)
        os.replace(to / f".{DETAILS}.tmp", to / DETAILS)
    return sorted(p for p in to.iterdir() if not p.name.startswith("."))


if __name__ == "__main__":
    raise SystemExit(main())
