"""Issue 14's done-when runs on a two-node Ray cluster on this machine, end to end, with figures.

The cluster of the tests (:func:`automl_nas.testing.cluster.local_cluster`: a head and a worker
node, token authentication on, loopback only); the worker node runs in its own mount namespace
with a tmpfs over the driver's working directory, so nothing there is shared with the driver. Then, from that working directory, with only
``RAY_ADDRESS`` set for the client:

1. ``automl run recipes/gdas.toml --profile quick --seeds 0-3 --executor ray``: the trials'
   ``env.json`` name both nodes, the batch directory is complete on the driver, and every seed's
   result equals the same seed run with ``--executor local``;
2. the same batch again, the driver killed (SIGKILL) once a trial has finished, then
   ``automl run --resume BATCH_DIR``: finished trials are not run again, all four finish;
3. a study (``recipes/studies/gdas-temperature.toml``, quick profile, two trials at once)
   pruning on the per-epoch benchmark score ``eval.cifar10`` (with ``--nb201``: the table is
   installed on the driver only, the nodes' stores are empty), run on the cluster;
4. ``ray job submit --working-dir . -- automl run ... --seeds 0-1 --executor ray``: the job's
   driver finds the cluster in ``RAY_ADDRESS`` and runs one trial on each node.

Usage:
    python benchmarks/cluster_check.py [--nb201 TABLE.csv] [--json out.json] [--keep] [--only seeds|resume|study|job]

Needs ``unshare`` with user namespaces or root (as the tests' cluster fixture). Prints one line
per step and a JSON summary. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from automl_nas.testing.cluster import local_cluster

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def automl(args: list[str], env: dict, cwd: Path, timeout: float = 1800) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "automl"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - started


def seeds_check(work: Path, env: dict, summary: dict) -> None:
    args = ["run", "recipes/gdas.toml", "--profile", "quick", "--seeds", "0-3"]
    ray_run, ray_s = automl([*args, "--executor", "ray", "--run-dir", "batch"], env, work)
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]
    local_env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    local_run, local_s = automl([*args, "--executor", "local", "--run-dir", "local"], local_env, work)
    assert local_run.returncode == 0, local_run.stderr[-3000:]
    seeds = []
    for s in range(4):
        remote = json.loads((work / "batch" / f"seed-{s}" / "result.json").read_text())
        local = json.loads((work / "local" / f"seed-{s}" / "result.json").read_text())
        executor = json.loads((work / "batch" / f"seed-{s}" / "env.json").read_text())["executor"]
        keys = ("train_loss", "train_acc", "valid_loss", "valid_acc")
        same = remote["genotype"] == local["genotype"] and all(
            remote["last_epoch"].get(k) == local["last_epoch"].get(k) for k in keys)
        seeds.append({"seed": s, "node": executor["node_id"][:8], "genotype": remote["genotype"],
                      "valid_acc": remote["last_epoch"].get("valid_acc"), "same_as_local": same})
    nodes = sorted({x["node"] for x in seeds})
    summary["seeds"] = {"ray_s": round(ray_s, 1), "local_s": round(local_s, 1), "nodes": nodes, "per_seed": seeds,
                        "complete": all((work / "batch" / f).exists() for f in ("aggregate.json", "trials.csv", "batch.json")),
                        "epoch_lines": sum(": epoch " in line for line in ray_run.stderr.splitlines())}
    print(f"seeds 0-3 on the cluster: {ray_s:.1f} s on nodes {nodes}; locally {local_s:.1f} s; "
          f"same per-seed results: {all(x['same_as_local'] for x in seeds)}", flush=True)


def kill_and_resume(work: Path, env: dict, summary: dict) -> None:
    args = ["run", "recipes/gdas.toml", "--profile", "quick", "--seeds", "0-3", "--executor", "ray", "--run-dir", "killed"]
    driver = subprocess.Popen([str(BIN / "automl"), *args], env=env, cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 900
    finished: list[Path] = []
    while time.time() < deadline and not finished:
        time.sleep(1)
        finished = [p for p in (work / "killed").glob("seed-*/result.json")
                    if json.loads(p.read_text() or "{}").get("status") == "finished"]
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    resumed, resume_s = automl(["run", "--resume", "killed"], env, work)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = json.loads(resumed.stdout)
    untouched = all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    summary["resume"] = {"finished_before_kill": len(stamps), "resume_s": round(resume_s, 1), "status": out["status"],
                         "finished_untouched": untouched,
                         "trials": [t["status"] for t in out["trials"]]}
    print(f"driver killed after {len(stamps)} finished trial(s); --resume: {out['status']} in {resume_s:.1f} s, "
          f"finished trials untouched: {untouched}", flush=True)


def job_check(work: Path, env: dict, summary: dict, dashboard_port: int) -> None:
    # The documented entry point: the job's driver runs on the head, in the job's copy of the
    # working directory; RAY_ADDRESS is set for it by Ray. The batch directory is absolute.
    batch = work.parent / "job-batch"
    args = [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dashboard_port}", "--working-dir", ".",
            "--", "automl", "run", "recipes/gdas.toml", "-p", "quick", "--seeds", "0-1", "--executor", "ray",
            "--run-dir", str(batch)]
    client = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    client["RAY_AUTH_MODE"] = "token"  # the job client authenticates to the dashboard's job server too
    client["PATH"] = f"{BIN}:{client.get('PATH', '')}"
    started = time.perf_counter()
    proc = subprocess.run(args, env=client, cwd=work, capture_output=True, text=True, timeout=1200)
    secs = time.perf_counter() - started
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    nodes = sorted({json.loads((batch / f"seed-{s}" / "env.json").read_text())["executor"]["node_id"][:8] for s in (0, 1)})
    agg = json.loads((batch / "aggregate.json").read_text())
    summary["job"] = {"seconds": round(secs, 1), "nodes": nodes, "succeeded": agg["succeeded"]}
    print(f"ray job submit: {agg['succeeded']} of 2 seeds in {secs:.1f} s on nodes {nodes}", flush=True)


def study_check(work: Path, env: dict, summary: dict, table: bool) -> None:
    # The per-epoch benchmark score: eval.cifar10 from the NAS-Bench-201 table installed on the
    # driver only (the nodes' own stores are empty: the trials score from the driver's, shipped
    # with them), else the quick profile's embedded analog accuracies.
    evaluator = ["--set", "evaluator.name='nb201-table'", "--set", "study.metric='metrics.cifar10'"] if table else []
    key = "eval.cifar10" if table else "eval.cifar10_analog"
    args = ["study", "recipes/studies/gdas-temperature.toml", "--profile", "quick", "--trials", "6",
            "--set", "study.parallelism=2", "--set", "study.pruner='median'", "--set", "study.prune_startup_trials=2",
            "--set", "search.epochs=4", "--set", "search.eval_every=1", "--set", f"study.intermediate='{key}'",
            "--set", "study.root='studies'", *evaluator]
    proc, secs = automl(args, env, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import optuna

    out = json.loads(proc.stdout)
    study = optuna.load_study(study_name=out["study"], storage=out["storage"])
    states = [t.state.name for t in study.trials]
    nodes = sorted({json.loads((Path(t.user_attrs["run_dir"]) / "env.json").read_text())["executor"]["node_id"][:8]
                    for t in study.trials if (Path(t.user_attrs["run_dir"]) / "env.json").exists()})
    summary["study"] = {"seconds": round(secs, 1), "intermediate": key, "states": states, "nodes": nodes,
                        "reported_epochs": [len(t.intermediate_values) for t in study.trials]}
    print(f"study on the cluster: {states} in {secs:.1f} s on nodes {nodes}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--only", choices=["seeds", "resume", "study", "job"], action="append")
    parser.add_argument("--nb201", help="NAS-Bench-201 table (CSV) to install for the study step (eval.cifar10)")
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="/tmp/cc-"))
    work = base / "driver"
    shutil.copytree(REPO / "recipes", work / "recipes")
    summary: dict = {}
    extra = {"AUTOML_NAS_HOME": str(base / "node-home")}  # the nodes': no table installed
    driver_home = {"AUTOML_NAS_HOME": str(base / "driver-home")}
    if opts.nb201:
        subprocess.run([str(BIN / "automl"), "bench", "import", "nb201", opts.nb201],
                       env={**os.environ, **driver_home}, check=True, capture_output=True)
    dashboard_port = _free_port()
    try:
        with local_cluster(base, work, extra_env=extra, dashboard_port=dashboard_port) as cluster:
            summary["address"], env = cluster.address, {**cluster.client_env, **driver_home}
            steps = {"seeds": lambda: seeds_check(work, env, summary),
                     "resume": lambda: kill_and_resume(work, env, summary),
                     "study": lambda: study_check(work, env, summary, bool(opts.nb201)),
                     "job": lambda: job_check(work, env, summary, dashboard_port)}
            for name, step in steps.items():
                if not opts.only or name in opts.only:
                    step()
    finally:
        if not opts.keep:
            shutil.rmtree(base, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    if opts.json:
        Path(opts.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
