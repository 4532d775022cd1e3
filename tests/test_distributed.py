"""One search across several processes (issue 15): 2 gloo ranks launched with torchrun take the
same steps as one process on the whole (concatenated) batch, and agree on the architecture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from automl_nas.testing import torchrun_command

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "ddp_worker.py"
K = 4


def _run(cmd, cwd):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _searches(out: Path, recipe: str, epoch: int, overrides: list[str], iterations: int = K) -> tuple[list, dict]:
    """``iterations`` of ``recipe`` as 2 gloo ranks (torchrun) and as one process: (ranks, single)."""
    args = [str(WORKER), str(out), str(iterations), recipe, str(epoch), *overrides]
    _run([*torchrun_command(2), *args], out)
    _run([sys.executable, *args], out)
    ranks = [torch.load(out / f"rank{r}.pt") for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    return ranks, torch.load(out / "single.pt")


@pytest.fixture(scope="module")
def rgb_images(tmp_path_factory) -> str:
    """A tiny 3-channel image set: on CPU the fused NB201/DARTS paths then run channels-last, where
    batch norm of a channel count that is not a multiple of 16 takes the folded kernel."""
    import numpy as np

    path = tmp_path_factory.mktemp("data") / "rgb.npz"
    g = np.random.default_rng(1)
    np.savez(path, x=g.integers(0, 256, (128, 3, 8, 8), dtype=np.uint8), y=np.arange(128) % 10)
    return str(path)


NB201_TINY = ["space.channels=8", "space.cells_per_stage=1"]
DARTS_TINY = ["space.channels=4", "space.layers=3"]

# (recipe, epoch, overrides, global batch of the image set): every kind of batch-norm call of the
# shipped supernets; the shipped recipes take 2 iterations (the toy ones K).
CASES = {
    # (the worker's ``toy-no-bn``, the toy space without batch norm, is the gradient all-reduce alone:
    # ``toy`` checks it together with the global batch statistics, so it is not run twice here)
    "toy": ("toy", 0, [], None),  # nn.BatchNorm2d modules
    # the fused NB201 cells with DrNAS' partial channels (the folded batch-norm kernel), in stage 2
    "drnas-progressive": ("drnas-progressive.toml", 2, [*NB201_TINY, "search.sampler.stage_epochs=[2, 2]",
                          "search.sampler.warmup_epochs=0", "search.arch_optimizer={name='sgd', lr=3e-4}"], 16),
    "gdas": ("gdas.toml", 0, NB201_TINY, 16),  # one sampled op per edge
    # the fused DARTS cells' shared pooling BN with running statistics; the second-order virtual step
    "darts-2nd-order": ("darts.toml", 0, [*DARTS_TINY, "space.track_running_stats=true"], 8),
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_gloo_ranks_equal_one_process_on_the_whole_batch(tmp_path, rgb_images, case):
    recipe, epoch, overrides, batch = CASES[case]
    if batch:
        overrides = [f'data={{name="npz", path="{rgb_images}", batch_size={batch}}}', *overrides]
    ranks, single = _searches(tmp_path, recipe, epoch, overrides, iterations=2 if batch else K)
    assert single["world"] == 1
    if batch:  # the one-process run took the kernels that the ranks must bypass for global statistics
        assert single["folded_batch_norms"] > 0 and ranks[0]["folded_batch_norms"] == 0
    # every rank holds the same architecture (identical updates from all-reduced gradients)
    for key, value in ranks[0]["arch"].items():
        assert torch.equal(value, ranks[1]["arch"][key])
    assert ranks[0]["genotype"] == ranks[1]["genotype"] == single["genotype"]
    # ... which is the one-process architecture on the concatenated batches, to float rounding
    for key, value in single["arch"].items():
        assert not torch.equal(value, torch.zeros_like(value))  # K steps really moved it (init is 0)
        torch.testing.assert_close(ranks[0]["arch"][key], value, rtol=1e-5, atol=1e-6)
    for key, value in single["net"].items():  # weights and batch norms' running statistics
        torch.testing.assert_close(ranks[1]["net"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_without_global_batch_statistics_batch_norm_supernets_drift_from_the_one_process_search(tmp_path):
    """``run.sync_batch_norm = false``: each rank normalises its own slice (DDP without SyncBatchNorm),
    so the equality above needs the global statistics; the ranks still agree with each other."""
    ranks, single = _searches(tmp_path, "toy", 0, ["run.sync_batch_norm=false"])
    for key, value in ranks[0]["arch"].items():
        assert torch.equal(value, ranks[1]["arch"][key])
    drift = max((ranks[0]["arch"][k] - v).abs().max().item() for k, v in single["arch"].items())
    assert drift > 1e-4


def test_torchrun_with_a_run_directory_gives_rank_zero_the_directory_and_one_summary(tmp_path, make_toy_recipe):
    import json

    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "D"
    proc = subprocess.run([*torchrun_command(2), "-m", "automl_nas.cli", "run", str(recipe),
                           "--run-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # one JSON document: rank 0's
    # progress from rank 0 alone (every rank printed every line, unlabelled)
    lines = proc.stderr.splitlines()
    assert [line.split(" loss")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    (finished,) = [line for line in lines if line.startswith("finished: ")]
    assert finished.endswith(f"({run_dir})")
    assert summary["run_dir"] == str(run_dir) and summary["status"] == "finished"
    ranks = [json.loads((d / "result.json").read_text()) for d in (run_dir, tmp_path / "D-rank1")]
    assert ranks[0]["genotype"] == ranks[1]["genotype"]  # every rank holds the same architecture
    # rank 0 alone scores the genotype, after the ranks parted (no collective waits on its retraining)
    assert ranks[0]["metrics"]["convs"] >= 0 and "metrics" not in ranks[1]
    assert ranks[1]["scored_in"] == str(run_dir) and "scored_in" not in ranks[0]  # where rank 1's reader finds them
    from click.testing import CliRunner

    from automl_nas.cli import main

    shown = CliRunner().invoke(main, ["show", str(tmp_path / "D-rank1")])
    assert shown.exit_code == 0 and f"evaluation  on rank 0: `automl show {run_dir}` has the metrics" in shown.output
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    # The epoch records are the whole batch's, as one process records them (rank 0's own slice before)
    one = subprocess.run([sys.executable, "-m", "automl_nas.cli", "run", str(recipe), "-q", "--run-dir",
                          str(tmp_path / "one")], capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    records = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
               for d in (run_dir, tmp_path / "D-rank1", tmp_path / "one")]
    for key in ("train_loss", "train_acc", "arch_loss"):
        values = [[epoch[key] for epoch in run] for run in records]
        assert values[0] == values[1], key  # both ranks record the same figures
        assert values[0] == pytest.approx(values[2], rel=1e-5, abs=1e-6), key


def test_ranks_given_different_recipes_are_refused_by_key_before_any_directory(tmp_path, make_toy_recipe):
    """Another seed per rank ended with other architectures on each (exit 0); another epoch count
    waited in a collective until gloo's 30-minute timeout, then blamed a lost process."""
    recipe = make_toy_recipe(count=32)
    launcher = tmp_path / "each-rank.sh"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m automl_nas.cli run {recipe} -q --run-dir '
                        f'{tmp_path / "D"} --set seed="$RANK" --set search.epochs="$((RANK + 1))"\n')
    launcher.chmod(0o755)
    torchrun = torchrun_command(2)
    proc = subprocess.run([*torchrun[:-2], "--no-python", *torchrun[-2:], str(launcher)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode != 0
    assert ("the 2 processes of this run were given different recipes: search.epochs = 1 on rank 0, 2 on rank 1; "
            "seed = 0 on rank 0, 1 on rank 1") in proc.stderr, proc.stderr[-3000:]
    assert not (tmp_path / "D").exists() and not (tmp_path / "D-rank1").exists()
    assert "terminate called" not in proc.stderr and "exitcode  : -6" not in proc.stderr  # both ranks part cleanly
    # each rank reports its own end; rank 1's is labelled (two unlabelled copies of one error before)
    assert "\nautoml: recipe error: " in proc.stderr and "\nautoml (rank 1): recipe error: " in proc.stderr


@pytest.mark.parametrize("args", [["run", "RECIPE", "--seeds", "0-1"], ["run", "RECIPE", "--executor", "ray"],
                                  ["study", "STUDY"], ["search", "SEARCH"]])
def test_commands_that_start_trials_are_refused_under_torchrun(tmp_path, make_toy_recipe, pruned_study, monkeypatch,
                                                                args):
    """Under torchrun each rank made its own seed batch (or raced rank 0 for --run-dir), and a
    seed's second trial waited forever on the other rank's collectives."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipes = {"RECIPE": str(make_toy_recipe(count=32)), "STUDY": str(pruned_study[0]),
               "SEARCH": str(Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml")}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    before = set(tmp_path.rglob("*"))
    result = CliRunner().invoke(main, [recipes.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert "under torchrun (WORLD_SIZE=2): each process torchrun starts is one rank of one search" in result.output
    assert "executor.ranks=N" in result.output
    assert set(tmp_path.rglob("*")) == before  # refused before any directory or storage


def test_a_ranked_seed_trial_is_one_data_parallel_search_whose_epochs_reach_the_driver(tmp_path, make_toy_recipe,
                                                                                      capsys):
    import json

    from automl_nas.execution.trials import run_seed_trials

    recipe = make_toy_recipe(count=32)
    parent = tmp_path / "p"
    parent.mkdir()
    (parent / "die-once-at-epoch-0").touch()  # one rank's process dies after epoch 0: the launch fails once
    out = run_seed_trials(recipe, seeds=[0], executor="local", run_dir=parent,
                          overrides=["executor.ranks=2", "executor.cpus=2", "executor.retries=1"])
    trial = out["trials"][0]
    assert trial["status"] == "finished" and trial["attempts"] == 2, trial
    attempts = [json.loads(x) for x in (parent / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert "the 2 ranks ended with exit code" in attempts[1]["error"] and attempts[2]["resumed"] is True
    ranks = [json.loads((d / "result.json").read_text()) for d in (parent / "seed-0", parent / "seed-0-rank1")]
    assert ranks[0]["genotype"] == ranks[1]["genotype"]  # one search: every rank holds the same architecture
    for d in (parent / "seed-0", parent / "seed-0-rank1"):  # each rank resumed from its own checkpoint
        assert [json.loads(x)["epoch"] for x in (d / "metrics.jsonl").read_text().splitlines()] == [0, 1]
        assert 'threads = 1' in (d / "recipe.toml").read_text()  # the trial's 2 CPUs shared by its 2 ranks
    err = capsys.readouterr().err  # rank 0's epochs were streamed by the trial like any other trial's
    assert "trial seed-0: epoch 1/2" in err and "trial seed-0: epoch 2/2" in err


def test_killing_the_process_of_a_ranked_trial_leaves_no_rank_running(tmp_path, make_toy_recipe):
    import os
    import signal
    import time

    recipe = make_toy_recipe(count=512)
    marker = f"ranked-kill-{os.getpid()}"
    script = ("import sys\nfrom automl_nas.execution.trial import TrialSpec, run_trial\n"
              f"run_trial(TrialSpec(recipe_path={str(recipe)!r}, run_dir={str(tmp_path / 'b' / marker)!r}, ranks=2,"
              " overrides=['search.epochs=100000']))\n")
    trial = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "b" / f"{marker}-rank1" / "metrics.jsonl").exists():
        time.sleep(0.5)
    assert (tmp_path / "b" / f"{marker}-rank1" / "metrics.jsonl").exists(), "the ranks never started"

    def ranks_alive() -> list[str]:
        alive = []
        for pid in os.listdir("/proc"):
            try:
                cmd = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError):
                continue
            if marker in cmd:
                alive.append(cmd)
        return alive

    assert ranks_alive()  # running, far from the end of their 100,000 epochs
    trial.send_signal(signal.SIGKILL)  # like a Ray worker killed with its task
    trial.wait()
    deadline = time.time() + 20
    while time.time() < deadline and ranks_alive():
        time.sleep(0.5)
    assert not ranks_alive()


def test_a_batch_that_does_not_split_across_the_ranks_is_a_recipe_error_before_any_directory(tmp_path, make_toy_recipe):
    """`data.batch_size = 63` on 2 ranks was an internal ValueError per rank, after both run
    directories existed."""
    recipe = make_toy_recipe(count=32)
    proc = subprocess.run([*torchrun_command(2), "-m", "automl_nas.cli", "run", str(recipe), "-q",
                           "--run-dir", str(tmp_path / "D"), "--set", "data.batch_size=15"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode != 0
    assert "recipe error" in proc.stderr and "data.batch_size = 15 does not split into 2 equal parts" in proc.stderr
    assert "internal error" not in proc.stderr
    assert not (tmp_path / "D").exists() and not (tmp_path / "D-rank1").exists()


def test_a_run_of_two_processes_is_resumed_by_two_and_its_hints_say_torchrun(tmp_path, monkeypatch):
    """`automl run --resume` (the hint every rank printed) continued rank 0 alone to "finished",
    leaving rank 1 stopped for good; 3 processes found no `-rank2` records."""
    import json

    from click.testing import CliRunner

    from automl_nas.cli import main
    from automl_nas.engine.distributed import is_lost_rank
    from automl_nas.records.rundir import recorded_world_size, resume_command

    run = tmp_path / "D"
    run.mkdir()
    (run / "recipe.toml").write_text('name = "x"\n')
    (run / "env.json").write_text(json.dumps({"world_size": 2}))
    out = CliRunner().invoke(main, ["run", "--resume", str(run)])
    assert out.exit_code == 5 and f"{run} was run by 2 process(es); this resume has 1" in out.output
    assert f"torchrun --nproc-per-node 2 $(command -v automl) run --resume {run}" in out.output
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    out = CliRunner().invoke(main, ["run", "--resume", str(run)])
    assert out.exit_code == 5 and "this resume has 3" in out.output  # not "D-rank2 is not a run directory"
    assert resume_command(tmp_path / "D-rank1", 2) == f"torchrun --nproc-per-node 2 $(command -v automl) run --resume {run}"
    (run / "env.json").unlink()  # records kept before the world size was: counted from the rank directories
    (tmp_path / "D-rank1").mkdir()
    assert recorded_world_size(run) == 2
    reset = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:28052: "
                         "Connection reset by peer")
    assert is_lost_rank(reset) and not is_lost_rank(RuntimeError("shape mismatch")) and not is_lost_rank(KeyError("x"))


def test_ranks_whose_checkpoints_differ_refuse_the_resume_together_with_one_fix(tmp_path, make_toy_recipe):
    """A kill between the ranks' checkpoint writes left rank 0 without one: rank 0 said "start a new
    run", rank 1 resumed, lost its peer and named a torchrun resume that failed the same way again."""
    import json

    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "D"
    first = subprocess.run([*torchrun_command(2), "-m", "automl_nas.cli", "run", str(recipe), "-q", "--run-dir",
                            str(run_dir), "--set", "search.epochs=1"], capture_output=True, text=True, cwd=tmp_path,
                           timeout=240)
    assert first.returncode == 0, first.stderr[-3000:]
    for d in (run_dir, tmp_path / "D-rank1"):
        (d / "result.json").unlink()  # as if killed after the checkpoint ...
    for f in (run_dir / "checkpoints").iterdir():
        f.unlink()  # ... which rank 0 had not written yet
    kept = (tmp_path / "D-rank1" / "checkpoints" / "last.pt").read_bytes()
    again = subprocess.run([*torchrun_command(2), "-m", "automl_nas.cli", "run", "--resume", str(run_dir), "-q"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=240)
    text = " ".join(again.stderr.split())
    assert again.returncode != 0
    said = "the ranks' checkpoints differ (rank 0: no checkpoint, rank 1: after epoch 1)"
    assert text.count(said) == 2 and "start a new run" in text and "was lost" not in text, text[-3000:]
    assert not (tmp_path / "D-rank1" / "result.json").exists()  # nothing rewritten
    assert (tmp_path / "D-rank1" / "checkpoints" / "last.pt").read_bytes() == kept
    assert json.loads((run_dir / "env.json").read_text())["world_size"] == 2
