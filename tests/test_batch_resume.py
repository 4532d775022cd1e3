"""``automl run --resume BATCH_DIR`` finishes a seed batch whose driver died (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from automl_nas.cli import main

BIN = Path(sys.executable).parent


def _attempts(parent: Path, seed: int) -> list[tuple[int, str]]:
    lines = (parent / "attempts" / f"seed-{seed}.jsonl").read_text().splitlines()
    return [(json.loads(x)["attempt"], json.loads(x)["status"]) for x in lines]


def test_a_batch_whose_driver_died_is_finished_without_repeating_finished_trials(tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=32)
    parent = tmp_path / "batch"
    parent.mkdir()
    (parent / "die-once-at-epoch-1").touch()  # the toy plugin kills its process: here the driver itself
    killed = subprocess.run([str(BIN / "automl"), "run", str(recipe), "--seeds", "0-1", "--executor", "local",
                             "--set", "search.epochs=3", "--run-dir", str(parent), "-q"],
                            capture_output=True, text=True, timeout=240)
    assert killed.returncode == 1 and not (parent / "aggregate.json").exists()
    assert _attempts(parent, 0) == [(1, "running")] and not (parent / "seed-1").exists()

    # moved before the resume: it wrote the trials into the old place (batch.json keeps absolute paths)
    moved = tmp_path / "moved"
    parent.rename(moved)
    parent = moved
    resumed = CliRunner().invoke(main, ["run", "--resume", str(parent), "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert not (tmp_path / "batch").exists()
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "finished" and [t["seed"] for t in summary["trials"]] == [0, 1]
    assert _attempts(parent, 0) == [(1, "running"), (2, "running"), (2, "finished")]  # resumed, not rerun
    epochs = [json.loads(x)["epoch"] for x in (parent / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]
    assert _attempts(parent, 1) == [(1, "running"), (1, "finished")]
    assert json.loads((parent / "aggregate.json").read_text())["succeeded"] == 2

    mtimes = {p: p.stat().st_mtime_ns for p in parent.glob("seed-*/result.json")}
    again = CliRunner().invoke(main, ["run", "--resume", str(parent), "-q"])
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "finished"
    assert _attempts(parent, 0)[-1] == (2, "finished") and len(_attempts(parent, 1)) == 2  # nothing ran again
    assert {p: p.stat().st_mtime_ns for p in parent.glob("seed-*/result.json")} == mtimes


def test_a_new_batch_is_never_written_into_a_resumable_one(tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=32)
    parent = tmp_path / "batch"
    parent.mkdir()
    (parent / "batch.json").write_text("{}")
    result = CliRunner().invoke(main, ["run", str(recipe), "--seeds", "0", "--run-dir", str(parent), "-q"])
    assert result.exit_code == 5 and f"automl run --resume {parent}" in result.output
    # nor is a run or a batch started inside one: `show` counted a foreign seed-7 among the batch's seeds
    for extra in ([], ["--seeds", "0"]):
        inside = CliRunner().invoke(main, ["run", str(recipe), "-q", "--run-dir", str(parent / "seed-7"), *extra])
        assert inside.exit_code == 5 and f"lies inside the records of {parent}" in inside.output
        assert not (parent / "seed-7").exists()


def test_a_batch_with_a_failed_trial_exits_5_with_its_summary_and_its_resume_runs_only_that_trial(tmp_path, toy_recipe):
    parent = tmp_path / "p"
    parent.mkdir()
    (parent / "seed-1").write_text("a file where the run directory should go")  # seed 1 cannot start
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--seeds", "0-1", "--executor", "local", "-q",
                                       "--run-dir", str(parent)])
    assert result.exit_code == 5, result.output
    assert json.loads(result.stdout)["status"] == "partial"  # the summary still reaches stdout
    assert "1 of 2 seed trials did not finish (seed 1: failed:" in result.stderr
    assert f"automl run --resume {parent}" in result.stderr and "Traceback" not in result.output
    assert "repeats on resume" in result.stderr and "start a new batch" in result.stderr  # a NaN loss would repeat
    changed = CliRunner().invoke(main, ["run", "--resume", str(parent), "--set", "search.epochs=1"])
    assert changed.exit_code == 2 and "with the trials planned in batch.json; --set would not be applied" in changed.output
    stamp = (parent / "seed-0" / "result.json").stat().st_mtime_ns
    (parent / "seed-1").unlink()
    resumed = CliRunner().invoke(main, ["run", "--resume", str(parent), "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "finished"
    assert (parent / "seed-0" / "result.json").stat().st_mtime_ns == stamp  # the finished trial was kept
    assert json.loads((parent / "seed-1" / "result.json").read_text())["status"] == "finished"


def test_a_batch_whose_cluster_is_gone_is_finished_on_another_executor(tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=32)
    parent = tmp_path / "batch"
    parent.mkdir()
    (parent / "die-once-at-epoch-1").touch()
    killed = subprocess.run([str(BIN / "automl"), "run", str(recipe), "--seeds", "0-1", "--executor", "local",
                             "--set", "search.epochs=3", "--run-dir", str(parent), "-q"],
                            capture_output=True, text=True, timeout=240)
    assert killed.returncode == 1
    record = json.loads((parent / "batch.json").read_text())
    (parent / "batch.json").write_text(json.dumps({**record, "executor": "ray", "address": "127.0.0.1:1"}))  # its head

    gone = CliRunner().invoke(main, ["run", "--resume", str(parent), "-q"])
    assert gone.exit_code == 5 and "cannot reach the Ray head at 127.0.0.1:1" in gone.output
    assert f"automl run --resume {parent} --executor local" in gone.output  # not "drop RAY_ADDRESS"
    here = CliRunner().invoke(main, ["run", "--resume", str(parent), "--executor", "local", "-q"])
    assert here.exit_code == 0, here.output
    assert json.loads(here.stdout)["status"] == "finished"
    assert _attempts(parent, 0) == [(1, "running"), (2, "running"), (2, "finished")]  # from its checkpoint
    moved = json.loads((parent / "batch.json").read_text())
    assert moved["executor"] == "local" and moved["address"] == ""

    single = CliRunner().invoke(main, ["run", "--resume", str(parent / "seed-0"), "--executor", "ray", "-q"])
    assert single.exit_code == 2 and "--executor would not be applied" in single.output


def test_a_batch_or_run_that_lost_its_own_record_says_which_and_how_to_go_on(tmp_path):
    """A deleted batch.json read as "not a run directory (recipe.toml is missing)", a damaged one
    said to pass a directory `automl run --seeds` created (it was one), and a run without its
    recipe.toml was told to pass the directory `automl run` printed (it was that one)."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    batch = tmp_path / "b"
    for seed in ("seed-0", "seed-1"):
        (batch / seed / "checkpoints").mkdir(parents=True)
        (batch / seed / "recipe.toml").write_text('name = "toy"\n')
    (batch / "batch.json").write_text('{"recipe": "to')
    damaged = CliRunner().invoke(main, ["run", "--resume", str(batch)])
    assert damaged.exit_code == 5 and f"`automl run --resume {batch}/seed-N`" in " ".join(damaged.output.split())
    (batch / "batch.json").unlink()
    lost = CliRunner().invoke(main, ["run", "--resume", str(batch)])
    text = " ".join(lost.output.split())
    assert lost.exit_code == 5 and "holds seed-N trials but no batch.json" in text, text
    run = batch / "seed-0"
    (run / "recipe.toml").unlink()
    (run / "metrics.jsonl").write_text('{"epoch": 0}\n')
    gone = CliRunner().invoke(main, ["run", "--resume", str(run)])
    text = " ".join(gone.output.split())
    assert gone.exit_code == 5 and f"{run / 'recipe.toml'} is missing: {run} holds a run's records" in text, text
