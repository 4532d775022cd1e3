"""Trials on a two-node Ray cluster on this machine (issue 14): one cluster for the module,
whose worker node sees none of the driver's files (:mod:`automl_nas.testing.cluster`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from automl_nas.execution.trials import run_seed_trials

BIN = Path(sys.executable).parent
EXECUTOR = """
[executor]
name = "ray"
cpus = 1
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``(address, client_env)``: a token-authenticated head and one worker node, 1 CPU each
    (:func:`automl_nas.testing.cluster.local_cluster`).

    The worker node's mount namespace hides pytest's base temporary directory, which holds every
    test's working directory and run root: what a trial there needs must travel with the job, and
    its records must come back to the driver. The client environment has ``RAY_ADDRESS`` and the
    token file in its HOME but no ``RAY_AUTH_MODE``: the tool must present the token itself."""
    from automl_nas.testing.cluster import local_cluster

    base = Path(tempfile.mkdtemp(prefix="/tmp/rc-"))  # short: Ray's socket paths live under it
    try:
        with local_cluster(base, tmp_path_factory.getbasetemp()) as running:
            yield running.address, running.client_env
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_seed_batch_runs_on_both_nodes_of_a_cluster_named_by_ray_address(cluster, tmp_path, make_toy_recipe):
    address, env = cluster
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    batch = tmp_path / "batch"
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "automl"), "run", str(recipe), "--seeds", "0-1", "--executor", "ray",
                           "--set", 'run.device="auto"', "--run-dir", str(batch)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # stdout is the JSON summary alone
    # stderr: a line per epoch of each running trial and one when it ends, through the tool's own
    # reporter; none of Tune's tables or Ray's INFO lines (--ray-output shows them)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("trial ")]
    assert sorted(line.split(" train_loss")[0] for line in lines if ": epoch " in line) == \
        ["trial seed-0: epoch 1/2", "trial seed-0: epoch 2/2", "trial seed-1: epoch 1/2", "trial seed-1: epoch 2/2"]
    assert sorted(line.split(":")[0] for line in lines if ": epoch " not in line) == \
        ["trial seed-0", "trial seed-1"], proc.stderr
    assert "Configuration for experiment" not in proc.stderr and "Trial status" not in proc.stderr
    assert "INFO worker.py" not in proc.stderr, proc.stderr
    assert summary["status"] == "finished" and summary["run_dir"] == str(batch)
    envs = [json.loads((batch / f"seed-{s}" / "env.json").read_text()) for s in (0, 1)]
    executors = [e["executor"] for e in envs]
    # Ray names the head by the node's own IP even when started on 127.0.0.1; the port is the head's.
    assert all(x["name"] == "ray" and x["address"].rpartition(":")[2] == address.rpartition(":")[2] for x in executors)
    assert all(x["resources"] == {"CPU": 1.0} and x["gpu_ids"] == [] for x in executors)
    assert len({x["node_id"] for x in executors}) == 2, executors  # one CPU per node: one trial on each
    for s in (0, 1):  # no GPU reserved, so `auto` ran on the CPU
        assert 'device = "cpu"' in (batch / f"seed-{s}" / "recipe.toml").read_text()
        attempts = [json.loads(line) for line in (batch / "attempts" / f"seed-{s}.jsonl").read_text().splitlines()]
        assert attempts[-1]["node_id"] == executors[s]["node_id"]
    assert (batch / "aggregate.json").is_file() and (batch / "trials.csv").is_file()
    for s in (0, 1):  # Tune saw every epoch record, under a readable trial name (not the spec dict)
        rows = (batch / "ray" / "tune" / f"seed-{s}" / "progress.csv").read_text().splitlines()
        header = rows[0].split(",")
        losses = [json.loads(x)["train_loss"] for x in (batch / f"seed-{s}" / "metrics.jsonl").read_text().splitlines()]
        assert [row.split(",")[header.index("epoch")] for row in rows[1:3]] == ["0", "1"]
        assert [float(row.split(",")[header.index("train_loss")]) for row in rows[1:3]] == pytest.approx(losses)
    # The same seeds run locally give the same results, bit for bit.
    run_seed_trials(recipe, seeds=[0, 1], overrides=['run.device="auto"'], executor="local", quiet=True,
                    run_dir=tmp_path / "local")
    for s in (0, 1):
        remote = json.loads((batch / f"seed-{s}" / "result.json").read_text())
        local = json.loads((tmp_path / "local" / f"seed-{s}" / "result.json").read_text())
        assert remote["genotype"] == local["genotype"]
        assert remote["last_epoch"]["train_loss"] == local["last_epoch"]["train_loss"]
        assert remote["last_epoch"]["valid_acc"] == local["last_epoch"]["valid_acc"]
    print(f"two-node batch: {elapsed:.1f} s")



def test_study_trials_run_on_both_nodes_and_only_the_driver_opens_the_storage(cluster, tmp_path, pruned_study):
    import optuna

    _, env = cluster
    # The storage is on the driver's disk, hidden from the worker node: the pruner's verdicts can
    # only come from the driver (the seeded trial makes the median pruner stop both new trials).
    recipe, url = pruned_study
    proc = subprocess.run([str(BIN / "automl"), "study", str(recipe), "--storage", url],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "PRUNED"], proc.stderr[-2000:]
    nodes = set()
    for t in trials[1:]:
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir.parent == Path(out["study_dir"])  # the records came back to the driver's study directory
        result = json.loads((run_dir / "result.json").read_text())
        assert result["status"] == "pruned" and result["run_dir"] == str(run_dir)
        first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
        assert t.intermediate_values == {0: pytest.approx(first["valid_acc"])}
        nodes.add(json.loads((run_dir / "env.json").read_text())["executor"]["node_id"])
    assert len(nodes) == 2  # one CPU per node: one trial on each
    assert "trial trial-0001: epoch 1/2" in proc.stderr and "trial trial-0002: epoch 1/2" in proc.stderr


def test_black_box_search_on_a_cluster_refuses_a_training_evaluator_whose_run_directory_nodes_do_not_see(cluster, tmp_path):
    _, env = cluster
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "morphism-macro.toml"
    proc = subprocess.run([str(BIN / "automl"), "search", str(recipe), "-p", "quick", "--set", "blackbox.parallel=2",
                           "--run-dir", str(tmp_path / "search")], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 5, proc.stderr[-3000:]
    assert "trains and keeps its artefacts in the search's run directory, which 1 Ray node(s)" in proc.stderr
    assert "mounts at the same path" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "search" / "history.jsonl").exists()  # refused before any evaluation
    # A lookup evaluator keeps nothing on disk: its evaluations run on the cluster's nodes as they are.
    table = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"
    lookup = subprocess.run([str(BIN / "automl"), "search", str(table), "-p", "quick", "-q", "--set",
                             "blackbox.parallel=2", "--run-dir", str(tmp_path / "lookup")], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert lookup.returncode == 0, lookup.stderr[-3000:]
    assert json.loads(lookup.stdout)["queries"] == len((tmp_path / "lookup" / "history.jsonl").read_text().splitlines())


def test_ranked_trials_bring_every_rank_s_records_back_from_a_node_without_the_driver_s_disk(cluster, tmp_path,
                                                                                           make_toy_recipe):
    _, env = cluster
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    batch = tmp_path / "batch"
    proc = subprocess.run([str(BIN / "automl"), "run", str(recipe), "--seeds", "0-1", "--executor", "ray", "-q",
                           "--set", "executor.ranks=2", "--run-dir", str(batch)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nodes = set()
    for s in (0, 1):
        ranks = [json.loads((batch / f"seed-{s}{suffix}" / "result.json").read_text()) for suffix in ("", "-rank1")]
        assert ranks[0]["genotype"] == ranks[1]["genotype"] and ranks[1]["run_dir"] == str(batch / f"seed-{s}-rank1")
        nodes.add(json.loads((batch / f"seed-{s}" / "env.json").read_text())["executor"]["node_id"])
        assert (batch / "attempts" / f"seed-{s}.ranks.log").is_file()
    assert len(nodes) == 2  # one trial (both its ranks) on each node


def _driver_home(tmp_path: Path, step: int) -> tuple[Path, dict[str, float]]:
    """An ``AUTOML_NAS_HOME`` with a generated nb201 table, and its scores. It lies under pytest's
    base temporary directory: the worker node does not see it, and neither node's own environment
    names it, so only the driver has this table installed."""
    from automl_nas.benchstore import TableStore
    from automl_nas_eval_tabular.synthetic import archs

    cells = archs(15_625)
    score = {c: float((i * step) % 1000) / 10 for i, c in enumerate(cells)}
    TableStore(tmp_path / "home" / "benchmarks").write("nb201", cells, {"cifar10": [score[c] for c in cells]},
                                                       source="synthetic", source_kind="test")
    return tmp_path / "home", score


def test_black_box_search_scores_from_the_driver_s_installed_table_on_a_node_without_it(cluster, tmp_path):
    _, env = cluster
    home, score = _driver_home(tmp_path, 37)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"
    proc = subprocess.run([str(BIN / "automl"), "search", str(recipe), "-q", "--set", "blackbox.parallel=2",
                           "--set", "blackbox.queries=6", "--set", 'blackbox.metric="cifar10"',
                           "--set", "executor.cpus=1", "--run-dir", str(tmp_path / "s")],
                          env={**env, "AUTOML_NAS_HOME": str(home)}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = [json.loads(x) for x in (tmp_path / "s" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 6
    assert all(h["value"] == score[h["genotype"]] for h in history), history  # the driver's table, every query


def test_seed_trials_score_from_the_driver_s_installed_table_on_nodes_without_it(cluster, tmp_path):
    address, env = cluster
    home, score = _driver_home(tmp_path, 53)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"
    batch = tmp_path / "batch"
    # the head named by --address, not RAY_ADDRESS (the other tests' way)
    env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([str(BIN / "automl"), "run", str(recipe), "-p", "quick", "-q", "--seeds", "0-1",
                           "--address", address, "--set", 'evaluator.name="nb201-table"', "--set", "search.epochs=1",
                           "--run-dir", str(batch)],
                          env={**env, "AUTOML_NAS_HOME": str(home)}, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nodes = set()
    for s in (0, 1):
        result = json.loads((batch / f"seed-{s}" / "result.json").read_text())
        assert result["status"] == "finished", result
        assert result["metrics"] == {"cifar10": score[result["genotype"]]}  # the driver's table
        nodes.add(json.loads((batch / f"seed-{s}" / "env.json").read_text())["executor"]["node_id"])
    assert len(nodes) == 2  # one CPU per node: one trial on each


def test_a_seed_whose_driver_is_killed_resumes_from_the_checkpoint_its_worker_sent_back(cluster, tmp_path,
                                                                                       make_toy_recipe):
    import signal

    _, env = cluster
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    batch = tmp_path / "batch"
    args = [str(BIN / "automl"), "run", str(recipe), "--seeds", "0", "--executor", "ray", "--set", "search.epochs=400",
            "--run-dir", str(batch)]
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the worker's checkpoints reach the driver while the trial runs
        if "trial seed-0: epoch 10/400" in line:
            break
    time.sleep(2)  # the checkpoint watcher looks every second
    proc.send_signal(signal.SIGKILL)  # the driver, and with it the sink and the job, is gone mid-trial
    proc.wait(timeout=60)
    kept = json.loads((batch / "attempts" / "seed-0.jsonl").read_text().splitlines()[0])
    assert kept["attempt"] == 1 and kept["status"] == "running"  # the killed attempt is on record
    assert (batch / "seed-0" / "checkpoints" / "last.pt").is_file()
    from click.testing import CliRunner

    from automl_nas.cli import main

    # Finished here (the cluster is not what is tested twice): from the checkpoint the worker sent back.
    resumed = CliRunner().invoke(main, ["run", "--resume", str(batch), "--executor", "local", "-q"])
    assert resumed.exit_code == 0, resumed.output
    attempts = [json.loads(line) for line in (batch / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert attempts[-1]["resumed"] is True and attempts[-1]["status"] == "finished"
    epochs = [json.loads(line)["epoch"] for line in (batch / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(400))


@pytest.mark.parametrize("command", ["seeds", "study"])
def test_a_token_the_head_refuses_is_named_once_and_leaves_no_directory(cluster, tmp_path, make_toy_recipe, command):
    """A wrong token left a seed batch's batch.json (or a study's empty storage) behind, after
    twenty lines of Ray's core logging the refusal; the error said only "Failed to connect"."""
    address, env = cluster
    env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-head-s-token",
           "RAY_NUM_REDIS_GET_RETRIES": "2"}  # Ray's own retries: ~20 s by default
    study = '\n[study]\nname = "s"\nparallelism = 2\nmetric = "metrics.convs"\n[study.params]\n' \
            '"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1 }\n'
    recipe = make_toy_recipe(count=32, tail=EXECUTOR + (study if command == "study" else ""))
    args = ["run", str(recipe), "--seeds", "0-1"] if command == "seeds" else ["study", str(recipe)]
    proc = subprocess.run([str(BIN / "automl"), *args, "--set", f"run.root={str(tmp_path / 'out')!r}"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 5, proc.stderr[-3000:]
    assert f"cannot connect to Ray at {address}" in proc.stderr and "the head refused this client's token" in proc.stderr
    assert "gcs_client" not in proc.stderr and len(proc.stderr.splitlines()) == 2, proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["seeds", "study"])
def test_trials_no_node_can_hold_are_refused_before_anything_is_written(cluster, tmp_path, make_toy_recipe, command):
    """Two CPUs per trial on a cluster of one-CPU nodes: Ray queued every trial for good, and the
    command waited without a word (validate said ok)."""
    address, env = cluster
    study = '\n[study]\nname = "s"\nparallelism = 2\nmetric = "metrics.convs"\n[study.params]\n' \
            '"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1 }\n'
    recipe = make_toy_recipe(count=32, tail=EXECUTOR.replace("cpus = 1", "cpus = 2")
                             + (study if command == "study" else ""))
    args = ["run", str(recipe), "--seeds", "0-1"] if command == "seeds" else ["study", str(recipe)]
    proc = subprocess.run([str(BIN / "automl"), *args, "--set", f"run.root={str(tmp_path / 'out')!r}"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stderr[-3000:]
    said = " ".join(proc.stderr.split())
    assert (f"{recipe}: each trial asks Ray for 2 CPUs and 0 GPUs (executor.cpus, executor.gpus), but no node of the "
            f"Ray cluster at {address} has them (its largest offers 1 CPU and 0 GPUs; 2 nodes)") in said, said
    assert "--set executor.cpus=1" in said and "AUTOML_NAS_RAY_WAIT_FOR_NODES=1" in said
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
