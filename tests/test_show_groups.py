"""`automl show` on a seed batch and a study directory (issue 19): one row per trial, mean ±
std of the finished trials, the best trial, the plots to open, and --json with the same content."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl_nas.cli import main
from automl_nas.records import RunDir
from tests.conftest import toy_recipe_text


def _show(*args) -> str:
    res = CliRunner().invoke(main, ["show", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("batch")
    recipe = tmp / "toy.toml"
    recipe.write_text(toy_recipe_text(tmp / "runs"))
    res = CliRunner().invoke(main, ["run", str(recipe), "-q", "--seeds", "0-2", "--run-dir", str(tmp / "b"),
                                    "--set", "search.steps_per_epoch=2", "--set", "search.epochs=2"])
    assert res.exit_code == 0, res.output
    return tmp / "b"


def test_show_a_seed_batch(batch):
    results = [RunDir(batch / f"seed-{s}").read_result() for s in range(3)]
    valid = [RunDir(batch / f"seed-{s}").read_epochs()[-1].valid_acc for s in range(3)]
    data = json.loads(_show(batch, "--json"))
    assert data["kind"] == "batch" and [r["name"] for r in data["rows"]] == ["seed-0", "seed-1", "seed-2"]
    assert [r["genotype"] for r in data["rows"]] == [r.genotype for r in results]
    mean = sum(valid) / 3
    assert data["stats"]["valid_acc"]["mean"] == pytest.approx(mean)
    assert data["stats"]["valid_acc"]["std"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in valid) / 3))
    convs = [r.metrics["convs"] for r in results]  # the toy evaluator's metric: the best seed maximises it
    assert data["best"] == [f"seed-{max(range(3), key=lambda i: convs[i])}"]
    assert str(batch / "aggregate.json") in data["links"]

    text = _show(batch)
    assert text.startswith(f"seed batch {batch}") and "3 finished" in text
    assert all(f"seed-{s}" in text for s in range(3)) and f"automl plot {batch}" in text
    CliRunner().invoke(main, ["plot", str(batch)])
    assert str(batch / "plots" / "index.html") in _show(batch)


def test_show_a_study(make_toy_recipe):
    from automl_nas.study.driver import run_study
    from tests.test_study import STUDY

    path = make_toy_recipe(count=32, tail=STUDY.format(objective='metric = "metrics.convs"'))
    sdir = Path(run_study(path, quiet=True, overrides=["search.steps_per_epoch=2"])["study_dir"])
    best = json.loads((sdir / "best.json").read_text())["best"][0]
    data = json.loads(_show(sdir, "--json"))
    assert data["kind"] == "study" and [r["name"] for r in data["rows"]] == ["trial-0000", "trial-0001"]
    assert data["best"] == [Path(best["run_dir"]).name]
    row = next(r for r in data["rows"] if r["name"] == data["best"][0])
    assert row["params"] == pytest.approx(best["params"]) and row["values"] == best["values"]
    assert row["state"] == "COMPLETE"
    text = _show(sdir)
    assert text.startswith(f"study {sdir}") and "search.arch_optimizer.lr" in text and "history.html" in text
    # A killed or still running driver has written neither file: the storage has the trials and the best.
    (sdir / "best.json").unlink()
    (sdir / "trials.csv").unlink()
    live = json.loads(_show(sdir, "--json"))
    assert live["best"] == data["best"] and [r["state"] for r in live["rows"]] == ["COMPLETE", "COMPLETE"]
    assert [r["values"] for r in live["rows"]] == [r["values"] for r in data["rows"]]
    # A copy of the directory reads its own copy of the storage (study.json names study.db inside the
    # directory), and names its own trials, not the original's (which still exist)
    import shutil

    copy = sdir.parent / "copied"
    shutil.copytree(sdir, copy)
    copied = json.loads(_show(copy, "--json"))
    assert copied["best"] == data["best"] and [r["name"] for r in copied["rows"]] == ["trial-0000", "trial-0001"]
    assert str(sdir) not in _show(copy)


def test_a_pruned_trial_shows_no_objective_value_and_the_trials_are_counted_by_state(tmp_path, pruned_study):
    from automl_nas.study.driver import run_study

    recipe, url = pruned_study  # every new trial is pruned after its first epoch
    sdir = Path(run_study(recipe, quiet=True, trials=3, storage=url,  # with the storage's one
                          overrides=["study.parallelism=1", 'executor.name="local"'])["study_dir"])
    data = json.loads(_show(sdir, "--json"))
    assert [r["state"] for r in data["rows"]] == ["PRUNED", "PRUNED"]
    assert [r["values"] for r in data["rows"]] == [None, None]  # Optuna's value of a pruned trial is an epoch's
    assert "trials      2 (2 PRUNED)" in _show(sdir)


def test_show_a_run_as_json(batch):
    data = json.loads(_show(batch / "seed-1", "--json"))
    rd = RunDir(batch / "seed-1")
    assert data["kind"] == "run" and data["result"] == rd.read_result().to_json()
    assert data["epochs"] == [e.to_json() for e in rd.read_epochs()[-5:]] and data["epochs_recorded"] == 2


def test_a_batch_cut_short_shows_every_planned_trial_and_survives_a_damaged_record(batch, tmp_path):
    import shutil
    import socket
    import subprocess
    import sys

    cut = tmp_path / "cut"
    shutil.copytree(batch, cut)
    (cut / "seed-0" / "result.json").unlink()  # its process was killed: a lock whose pid is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (cut / "seed-0" / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "what": "run"}))
    (cut / "seed-1" / "result.json").write_text("{cut")
    shutil.rmtree(cut / "seed-2")  # the driver stopped before it
    (cut / "aggregate.json").unlink()
    data = json.loads(_show(cut, "--json"))
    rows = {r["name"]: r for r in data["rows"]}
    assert {n: r["status"] for n, r in rows.items()} == {"seed-0": "killed", "seed-1": "unreadable", "seed-2": "not started"}
    assert "seed-1/result.json: not a readable result record" in rows["seed-1"]["problem"] and "move it aside" in rows["seed-1"]["problem"]
    assert rows["seed-1"]["epochs"] == 2 and data["stats"] == {}
    text = _show(cut)
    assert "trials      3 (1 killed, 1 not started, 1 unreadable)" in text and "note        seed-1: " in text
    # the batch's resume finishes the trial and the batch's aggregate (the trial's own would not)
    assert f"killed (no result.json; `automl run --resume {cut}` continues it with its seed batch" in _show(cut / "seed-0")


def test_a_trial_the_storage_holds_running_is_shown_killed_when_its_process_is_gone(tmp_path):
    """With its driver killed, the storage still says RUNNING: show printed that, a process long gone."""
    import socket
    import subprocess
    import sys

    from automl_nas.records.overview import _row

    run = tmp_path / "trial-0002"
    run.mkdir()
    (run / "recipe.toml").write_text('name = "t"\n')
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "what": "run"}))
    row = _row("trial-0002", RunDir(run), {str(run.resolve()): {"state": "RUNNING", "values": None, "params": {}}})
    assert (row.status, row.state) == ("killed", "killed")
    # Ctrl-C: the driver told the trial FAIL only to queue it again; its run says interrupted
    (run / ".lock").unlink()
    (run / "result.json").write_text(json.dumps({"status": "interrupted", "schema_version": 1}))
    row = _row("trial-0002", RunDir(run), {str(run.resolve()): {"state": "FAIL", "values": None, "params": {}}})
    assert (row.status, row.state) == ("interrupted", "interrupted")


def _killed_copy(run: Path, to: Path) -> Path:
    """A copy of a finished ``run`` as a killed process leaves it: no result.json, a dead pid's lock."""
    import shutil
    import socket
    import subprocess
    import sys

    shutil.copytree(run, to)
    (to / "result.json").unlink()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (to / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "what": "run"}))
    return to


def test_a_killed_torchrun_search_is_shown_with_the_torchrun_line_that_resumes_it(batch, tmp_path):
    """show printed `automl run --resume D`, which a run of 2 processes refuses."""
    import shutil

    killed = _killed_copy(batch / "seed-0", tmp_path / "D")
    env = json.loads((killed / "env.json").read_text())
    (killed / "env.json").write_text(json.dumps({**env, "world_size": 2}))
    assert (f"killed (no result.json; `torchrun --nproc-per-node 2 $(command -v automl) run --resume {killed}` "
            f"continues it") in _show(killed)
    rank1 = tmp_path / "D-rank1"  # a rank's own directory names the same line, over rank 0's directory
    shutil.copytree(killed, rank1)
    assert f"run --resume {killed}` continues it" in _show(rank1)


def test_a_run_killed_while_writing_its_checkpoint_says_which_epochs_a_resume_computes_again(batch, tmp_path):
    """"2 recorded ... continues it, from its last checkpoint" while the checkpoint held 1 epoch:
    the user could not tell that epoch 2 would be done again."""
    from automl_nas.records.rundir import checkpoint_manifest

    killed = _killed_copy(batch / "seed-0", tmp_path / "k")
    manifest = checkpoint_manifest(RunDir(killed).checkpoint_file)
    assert json.loads(manifest.read_text())["epochs_done"] == 2  # the whole run's: as recorded
    assert "continues it, from its last checkpoint)" in _show(killed)
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "epochs_done": 1}))  # killed mid-write
    assert "from its last checkpoint, after epoch 1 (epoch 2 recorded since is computed again)" in _show(killed)
    RunDir(killed).checkpoint_file.unlink()  # `automl run --resume` refuses it: show said it continues it
    assert (f"killed (no result.json) before its first checkpoint: nothing to resume; `automl run "
            f"{killed / 'recipe.toml'}` starts it again in a new directory") in " ".join(_show(killed).split())
    resumed = CliRunner().invoke(main, ["run", "--resume", str(killed)])
    assert resumed.exit_code == 5 and "no checkpoint to resume from" in resumed.output


def test_a_run_s_costs_are_one_line_apart_from_an_evaluator_s_metrics_of_the_same_name(batch, tmp_path):
    """An evaluator's `params` and the space's count of the found network were two rows both named
    params (2388 and 2,388)."""
    import shutil

    run = tmp_path / "r"
    shutil.copytree(batch / "seed-0", run)
    result = json.loads((run / "result.json").read_text())
    result.update(metrics={"test_acc": 95.0, "params": 2388.0}, costs={"params": 2388.0, "flops": 123456.0})
    (run / "result.json").write_text(json.dumps(result))
    lines = _show(run).splitlines()
    assert [line.split()[0] for line in lines].count("params") == 1
    assert "  costs       params 2,388, flops 123,456" in lines


def test_a_batch_s_best_seed_is_ranked_by_its_paper_metric_else_its_evaluator_s_first_in_its_direction():
    """The first metric by name ranked the seeds: `in_table` (1 for every seed) named the worst one,
    `ImageNet16-120` ranked a CIFAR-10 recipe, and a cost would have been maximised."""
    from automl_nas.records.overview import TrialRow, _best

    def row(name, valid, metrics, paper=None, primary=None, status="finished", error=None):
        return TrialRow(name=name, run_dir=name, status=status, epochs=1, valid_acc=valid, metrics=metrics,
                        paper_metric=paper, primary=primary, error=error)

    graph = [row(f"seed-{i}", 50.0 - i, {"in_table": 1.0, "valid_perf": v}, primary=("valid_perf", True))
             for i, v in enumerate([77.9, 79.3, 78.8])]
    assert _best("batch", Path("."), graph) == (["seed-1"], "valid_perf")
    nb201 = [row(f"seed-{i}", 50.0, {"ImageNet16-120": m16, "cifar10": c10}, paper="cifar10",
                 primary=("ImageNet16-120", True)) for i, (m16, c10) in enumerate([(40.0, 93.0), (45.0, 91.0)])]
    assert _best("batch", Path("."), nb201) == (["seed-0"], "cifar10")
    latency = [row(f"seed-{i}", 50.0, {"latency": v}, primary=("latency", False)) for i, v in enumerate([3.0, 1.0, 2.0])]
    assert _best("batch", Path("."), latency) == (["seed-1"], "latency, lowest")
    plain = [row("seed-0", 60.0, {}), row("seed-1", 70.0, {}), row("seed-2", 99.0, {}, status="failed", error="nan")]
    assert _best("batch", Path("."), plain) == (["seed-1"], "last epoch's valid accuracy")


def test_show_of_a_batch_says_why_a_trial_failed(make_toy_recipe):
    from automl_nas.records.overview import overview

    recipe = make_toy_recipe(count=32)
    batch = recipe.parent / "B"
    result = CliRunner().invoke(main, ["run", str(recipe), "-q", "--seeds", "0-1", "--run-dir", str(batch),
                                       "--set", "search.weights_optimizer.lr=1e30"])
    assert result.exit_code == 5, result.output
    shown = _show(batch)
    assert "failed      seed-0: non-finite" in shown, shown
    assert "automl plot" not in shown and "automl plot" not in _show(batch / "seed-0")  # it refuses them: no epoch
    assert overview(batch).to_json()["rows"][0]["error"].startswith("non-finite")


def test_a_result_json_whose_value_is_not_a_number_is_that_trial_s_row_and_a_note(make_toy_recipe):
    """README: a damaged result.json is that trial's row and a note. A value of the wrong type (an
    edit) ended show of the whole batch, naming no file ('>' not supported between str and float)."""
    recipe = make_toy_recipe(count=32)
    batch = recipe.parent / "B"
    done = CliRunner().invoke(main, ["run", str(recipe), "-q", "--seeds", "0-1", "--run-dir", str(batch)])
    assert done.exit_code == 0, done.output
    edited = batch / "seed-1" / "result.json"
    record = json.loads(edited.read_text())
    edited.write_text(json.dumps({**record, "metrics": {**record["metrics"], "convs": "high"}}))
    shown = " ".join(_show(batch).split())
    assert f"note seed-1: {edited}: not a readable result record (ValueError: metrics.convs is 'high', not a number)" \
        in shown, shown
    single = CliRunner().invoke(main, ["show", str(batch / "seed-1")])
    assert single.exit_code == 5 and f"mv {edited} {edited}.damaged" in single.output and "internal" not in single.output


def test_a_project_folder_with_a_recipe_toml_of_its_own_is_not_shown_as_a_run(tmp_path):
    """It was a run "running or killed (no result.json)", and plot then said to wait for its first epoch."""
    (tmp_path / "recipe.toml").write_text('name = "mine"\n')
    result = CliRunner().invoke(main, ["show", str(tmp_path)])
    assert result.exit_code == 5 and "is neither a run directory" in result.output, result.output


def test_show_of_a_batch_gives_the_costs_mean_and_every_trial_s_epochs_with_epochs(batch, tmp_path):
    """A batch's show left out the found networks' costs (params, flops), and --epochs did nothing
    for a batch or a study."""
    import shutil

    batch = shutil.copytree(batch, tmp_path / "b")
    costs = [{"params": 1000.0 + s, "flops": 5e4 * (s + 1)} for s in range(3)]  # the toy space has none
    for s, cost in enumerate(costs):
        result = json.loads((batch / f"seed-{s}" / "result.json").read_text())
        (batch / f"seed-{s}" / "result.json").write_text(json.dumps({**result, "costs": cost}))
    data = json.loads(_show(batch, "--json"))
    for key in costs[0]:
        assert data["stats"][f"costs.{key}"]["mean"] == pytest.approx(sum(c[key] for c in costs) / 3)
        assert f"costs.{key}" in _show(batch)
    assert "  costs.flops   100,000 ± 40,825 (n=3)" in _show(batch).splitlines()  # not 1e+05 ± 4.08e+04
    assert "epochs" not in data
    every = json.loads(_show(batch, "--json", "--epochs"))["epochs"]
    assert {name: [e["epoch"] for e in records] for name, records in every.items()} == {f"seed-{s}": [0, 1] for s in range(3)}
    text = _show(batch, "--epochs")
    for s in range(3):
        block = text.split(f"  epochs of seed-{s}:\n")[1].splitlines()[:2]
        losses = [e.train_loss for e in RunDir(batch / f"seed-{s}").read_epochs()]
        assert [line.split()[:4] for line in block] == [["epoch", "1:", "loss", f"{losses[0]:.4f}"],
                                                        ["epoch", "2:", "loss", f"{losses[1]:.4f}"]]
    assert "epochs of" not in _show(batch)


def test_show_of_an_unfinished_run_says_how_many_epochs_it_plans(batch, tmp_path):
    """An interrupted or killed run's show said "1 recorded" without the epochs it was to run."""
    import shutil

    run = shutil.copytree(batch / "seed-0", tmp_path / "r")
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text(lines[0])
    result = json.loads((run / "result.json").read_text())
    (run / "result.json").write_text(json.dumps({**result, "status": "interrupted", "epochs": None, "epochs_done": 1}))
    assert "  epochs      1 recorded of 2 planned" in _show(run).splitlines()
    assert json.loads(_show(run, "--json"))["epochs_planned"] == 2
    (run / "result.json").unlink()  # killed
    assert "  epochs      1 recorded of 2 planned" in _show(run).splitlines()
    assert "planned" not in _show(batch / "seed-0") and json.loads(_show(batch / "seed-0", "--json"))["epochs_planned"] == 2


def test_a_failed_member_s_own_fix_is_not_offered_for_a_batch_or_study(batch, tmp_path):
    """`show` repeated a trial's own fix (`automl run --resume .../seed-1`, or a new --run-dir),
    which runs it outside its batch or study."""
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(batch, copy)
    result = json.loads((copy / "seed-1" / "result.json").read_text())
    result.update(status="failed", error="non-finite loss in epoch 2\n  fix: continue with `automl run --resume "
                                         f"{copy / 'seed-1'}`")
    (copy / "seed-1" / "result.json").write_text(json.dumps(result))
    shown = _show(copy)
    assert "  failed      seed-1: non-finite loss in epoch 2" in shown
    assert f"--resume {copy / 'seed-1'}" not in shown
    assert f"  continue    `automl run --resume {copy}` runs the unfinished trials again" in shown
