"""Seed trials on Ray (issue 6): parallel trials, aggregate, retries (an external cluster: tests/test_cluster.py)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

import ray

from automl_nas.execution.trials import run_seed_trials

EXECUTOR = """
[executor]
name = "ray"
cpus = 1
"""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def toy_recipe(make_toy_recipe) -> Path:
    return make_toy_recipe(count=32, tail=EXECUTOR)


def test_three_seeds_run_as_parallel_ray_trials_with_correct_aggregate(local_ray, tmp_path, toy_recipe):
    out = run_seed_trials(toy_recipe, seeds=[0, 1, 2], executor="ray", quiet=True, run_dir=tmp_path / "p")
    assert out["status"] == "finished"
    results = [json.loads((tmp_path / "p" / f"seed-{s}" / "result.json").read_text()) for s in range(3)]
    assert [r["seed"] for r in results] == [0, 1, 2]  # each trial got its own seed and directory
    agg = json.loads((tmp_path / "p" / "aggregate.json").read_text())
    assert agg["succeeded"] == 3 and agg["failed"] == 0
    for key, pick in (("metrics.convs", lambda r: r["metrics"]["convs"]), ("search_time_s", lambda r: r["search_time_s"]),
                      ("last_epoch.valid_acc", lambda r: r["last_epoch"]["valid_acc"])):
        values = [pick(r) for r in results]
        mean = sum(values) / 3
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
        assert agg["metrics"][key]["mean"] == pytest.approx(mean)
        assert agg["metrics"][key]["std"] == pytest.approx(std)
        assert agg["metrics"][key]["n"] == 3
    rows = (tmp_path / "p" / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("trial,seed,status")
    # Parallel: the two CPUs ran trials at the same time (overlapping attempt windows).
    starts = [json.loads((tmp_path / "p" / "attempts" / f"seed-{s}.jsonl").read_text().splitlines()[0])["started"]
              for s in range(3)]
    ends = [os.path.getmtime(tmp_path / "p" / f"seed-{s}" / "result.json") for s in range(3)]
    assert any(starts[j] < ends[i] and starts[i] < ends[j] for i in range(3) for j in range(i + 1, 3))


def test_cli_seed_trials_honour_run_dir_and_keep_stdout_for_the_summary(local_ray, tmp_path, toy_recipe):
    from click.testing import CliRunner

    from automl_nas.cli import main

    parent = tmp_path / "chosen"
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--seeds", "0-1", "--executor", "ray", "-q",
                                       "--run-dir", str(parent)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # Tune's banner went to stderr, not into the JSON
    assert summary["run_dir"] == str(parent)
    assert (parent / "seed-0" / "result.json").is_file() and (parent / "seed-1" / "result.json").is_file()
    assert "Configuration for experiment" not in result.stdout


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_seed_trials_print_a_line_per_epoch_and_per_trial_end_with_either_executor(local_ray, tmp_path, toy_recipe,
                                                                                   executor):
    from click.testing import CliRunner

    from automl_nas.cli import main

    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--seeds", "0-1", "--executor", executor,
                                       "--run-dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("trial ")]
    for seed in (0, 1):
        losses = [json.loads(x)["train_loss"] for x in (tmp_path / "p" / f"seed-{seed}" / "metrics.jsonl").read_text().splitlines()]
        mine = [line for line in lines if line.startswith(f"trial seed-{seed}: ")]
        assert [line.split(" train_loss")[0] for line in mine[:2]] == [f"trial seed-{seed}: epoch 1/2",
                                                                       f"trial seed-{seed}: epoch 2/2"]
        assert [float(line.split("train_loss ")[1].split()[0]) for line in mine[:2]] == pytest.approx(losses, rel=1e-3)
        assert mine[2].startswith(f"trial seed-{seed}: finished")
    json.loads(result.stdout)  # the summary alone on stdout


def test_a_ray_trial_s_end_is_said_when_it_ends_not_when_the_batch_does(local_ray, tmp_path, make_toy_recipe):
    """Two CPUs per trial on the two-CPU Ray: one trial after the other. Every "finished" line came
    after the last trial's epochs."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = make_toy_recipe(count=32, tail=EXECUTOR.replace("cpus = 1", "cpus = 2"))
    result = CliRunner().invoke(main, ["run", str(recipe), "--seeds", "0-1", "--executor", "ray",
                                       "--run-dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("trial ")]
    first_end = next(i for i, line in enumerate(lines) if ": finished" in line)
    first = lines[first_end].split(":")[0]
    other = next(i for i, line in enumerate(lines) if not line.startswith(first + ":"))
    assert first_end < other, lines


def test_failing_trial_is_retried_then_recorded_while_others_finish(local_ray, tmp_path, toy_recipe):
    parent = tmp_path / "p"
    parent.mkdir()
    (parent / "seed-1").write_text("a file where the run directory should go")  # RunDir.create fails: RunError
    out = run_seed_trials(toy_recipe, seeds=[0, 1], overrides=["executor.retries=1"], executor="ray",
                          quiet=True, run_dir=parent)
    assert out["status"] == "partial"
    by_seed = {t["seed"]: t for t in out["trials"]}
    assert by_seed[0]["status"] == "finished" and by_seed[0]["attempts"] == 1
    assert by_seed[1]["status"] == "failed" and by_seed[1]["attempts"] == 2  # one retry, as configured
    assert "cannot be written" in by_seed[1]["error"]
    agg = json.loads((parent / "aggregate.json").read_text())
    assert agg["succeeded"] == 1 and agg["failed"] == 1 and agg["metrics"]["metrics.convs"]["n"] == 1


def test_trial_whose_worker_dies_resumes_from_its_checkpoint(local_ray, tmp_path, make_toy_recipe, capfd):
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    reference = run_seed_trials(recipe, seeds=[0], overrides=["search.epochs=3"], executor="local", quiet=True,
                                run_dir=tmp_path / "ref")
    assert reference["status"] == "finished"  # the uninterrupted run compared with below
    parent = tmp_path / "p"
    parent.mkdir()
    (parent / "die-once-at-epoch-1").touch()  # the toy plugin kills its worker process after epoch 1
    out = run_seed_trials(recipe, seeds=[0], overrides=["search.epochs=3", "executor.retries=1"], executor="ray",
                          quiet=True, run_dir=parent)
    trial = out["trials"][0]
    assert trial["status"] == "finished" and trial["attempts"] == 2
    attempts = [json.loads(line) for line in (parent / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "running"), (2, "running"), (2, "finished")]
    assert attempts[1]["resumed"] is True and attempts[1]["pid"] != attempts[0]["pid"]
    epochs = [json.loads(line)["epoch"] for line in (parent / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]  # epochs 0 and 1 came from the dead worker's checkpoint, not a rerun
    done = json.loads((parent / "seed-0" / "result.json").read_text())
    ref = json.loads((tmp_path / "ref" / "seed-0" / "result.json").read_text())
    assert done["genotype"] == ref["genotype"]
    assert done["last_epoch"]["train_loss"] == pytest.approx(ref["last_epoch"]["train_loss"], rel=1e-6)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "tune_controller" not in err, err[-2000:]


def test_tune_s_error_logs_are_off_unless_ray_output_is_asked_for():
    """`automl run --seeds ... --executor ray` printed Tune's ERROR with Ray's ~25-line traceback
    for a worker death its retry then recovered (seen through the CLI: pytest captures Tune's
    logging in process, so the level is checked here)."""
    import logging

    from automl_nas.execution.ray import _tune_logs_off

    logger = logging.getLogger("ray.tune")
    before = logger.level
    with _tune_logs_off(quiet=True):
        assert not logging.getLogger("ray.tune.execution.tune_controller").isEnabledFor(logging.ERROR)
    assert logger.level == before
    with _tune_logs_off(quiet=False):
        assert logging.getLogger("ray.tune.execution.tune_controller").isEnabledFor(logging.ERROR)


def test_trial_end_hook_fires_in_driver_for_each_trial(tmp_path, monkeypatch, toy_recipe):
    import automl_nas.session as session

    calls = []

    class Recorder:
        from automl_nas import hookimpl

        @hookimpl
        def automl_trial_end(self, trial, result):
            calls.append((trial.seed, result["status"]))

    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(Recorder(), "recorder")]))
    out = run_seed_trials(toy_recipe, seeds=[3, 4], executor="local", quiet=True, run_dir=tmp_path / "p")
    assert out["status"] == "finished"
    assert calls == [(3, "finished"), (4, "finished")]


def test_the_same_seed_gives_the_same_result_locally_and_on_ray(local_ray, tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=64, tail=EXECUTOR)
    runs = {ex: run_seed_trials(recipe, seeds=[3], executor=ex, quiet=True, run_dir=tmp_path / ex) for ex in ("local", "ray")}
    results = {ex: json.loads((tmp_path / ex / "seed-3" / "result.json").read_text()) for ex in runs}
    assert all(r["status"] == "finished" for r in results.values())
    local, remote = results["local"], results["ray"]
    assert local["genotype"] == remote["genotype"]
    for key in ("train_loss", "valid_acc", "arch_loss"):
        assert local["last_epoch"][key] == remote["last_epoch"][key], key  # bit-identical, not merely close
    threads = {ex: (tmp_path / ex / "seed-3" / "recipe.toml").read_text() for ex in runs}
    assert all("threads = 1" in text for text in threads.values())  # run.threads = executor.cpus on both


def test_study_trials_on_ray_are_pruned_by_the_driver_through_the_epoch_stream(local_ray, pruned_study, capsys):
    import optuna

    from automl_nas.study.driver import run_study

    recipe, url = pruned_study
    out = run_study(recipe, storage=url, quiet=False)
    assert out["trials"] == 3
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "PRUNED"]
    for t in trials[1:]:
        run_dir = Path(t.user_attrs["run_dir"])
        result = json.loads((run_dir / "result.json").read_text())
        assert result["status"] == "pruned" and result["epochs_done"] == 1
        first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
        assert t.intermediate_values == {0: pytest.approx(first["valid_acc"])}  # reported by the driver
        assert json.loads((run_dir / "env.json").read_text())["executor"]["name"] == "ray"
        assert t.user_attrs["attempts"] == 1  # pruned, not retried
    err = capsys.readouterr().err  # the driver's own lines: each epoch of each running trial, then its end
    assert "trial trial-0001: epoch 1/2 " in err and "trial trial-0002: epoch 1/2 " in err
    assert "trial trial-0001: pruned" in err and "Trial status" not in err


def test_parallel_black_box_evaluations_run_as_ray_tasks_with_the_sequential_results(local_ray, tmp_path):
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"
    args = ["search", str(recipe), "-p", "quick", "-q", "--set", "blackbox.proposer.name='random'"]
    runner = CliRunner()
    serial = runner.invoke(main, [*args, "--run-dir", str(tmp_path / "serial")])
    parallel = runner.invoke(main, [*args, "--set", "blackbox.parallel=2", "--set", "executor.retries=1",
                                    "--run-dir", str(tmp_path / "parallel")])
    assert serial.exit_code == 0 and parallel.exit_code == 0, parallel.output

    def scored(run: str) -> dict:
        lines = (tmp_path / run / "history.jsonl").read_text().splitlines()
        return {json.loads(x)["genotype"]: json.loads(x)["value"] for x in lines}

    # A random proposer asks regardless of what it is told: the same cells, scored the same, found in any order.
    assert scored("parallel") == scored("serial") and len(scored("serial")) > 1
    assert json.loads(parallel.stdout)["best_value"] == json.loads(serial.stdout)["best_value"]


def test_an_evaluation_error_on_ray_is_shown_as_itself_not_as_ray_s_traceback(local_ray, blank_cell_search):
    blank, search = blank_cell_search
    # The module's Ray workers started before this test's AUTOML_NAS_HOME and see no table in
    # theirs: the evaluator carries the driver's table to them.
    out = search("--set", "blackbox.parallel=2")
    assert out.exit_code == 4 and "gave cifar10 = nan for |" in out.output, out.output
    assert "ray::" not in out.output and "Traceback" not in out.output  # was: "data error: ray::_score() (pid=...)"
    assert out.output.split("nan for ")[1].split(",")[0] in blank


def test_with_a_shared_storage_a_retry_resumes_from_the_checkpoint_handed_to_tune(local_ray, tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    reference = run_seed_trials(recipe, seeds=[0], overrides=["search.epochs=3"], executor="local", quiet=True,
                                run_dir=tmp_path / "ref")
    assert reference["status"] == "finished"
    parent = tmp_path / "p"
    parent.mkdir()
    # The worker dies after epoch 1 and its run's checkpoints go with it: only Tune's copy can resume it.
    (parent / "lose-disk-and-die-once-at-epoch-1").touch()
    shared = tmp_path / "shared"
    out = run_seed_trials(recipe, seeds=[0], executor="ray", quiet=True, run_dir=parent,
                          overrides=["search.epochs=3", "executor.retries=1", f"executor.storage='{shared}'"])
    trial = out["trials"][0]
    assert trial["status"] == "finished" and trial["attempts"] == 2, trial
    attempts = [json.loads(line) for line in (parent / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert attempts[1]["resumed"] is True  # from the restored checkpoint, not from scratch
    epochs = [json.loads(line)["epoch"] for line in (parent / "seed-0" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]
    done = json.loads((parent / "seed-0" / "result.json").read_text())
    ref = json.loads((tmp_path / "ref" / "seed-0" / "result.json").read_text())
    assert done["genotype"] == ref["genotype"]
    assert done["last_epoch"]["train_loss"] == pytest.approx(ref["last_epoch"]["train_loss"], rel=1e-6)
    # Tune persisted a checkpoint per epoch under the shared storage, in an experiment named after the batch.
    saved = sorted(shared.glob("p-tune/seed-0/checkpoint_*"))
    assert len(saved) >= 2 and all((c / "run" / "checkpoints").is_dir() for c in saved)
    assert not list(shared.rglob(".lock"))


def test_a_ranked_trial_on_ray_holds_the_cpus_of_all_its_ranks(local_ray, tmp_path, make_toy_recipe):
    recipe = make_toy_recipe(count=32, tail=EXECUTOR)
    out = run_seed_trials(recipe, seeds=[0], executor="ray", quiet=True, run_dir=tmp_path / "p",
                          overrides=["executor.ranks=2", "executor.cpus=2"])
    assert out["status"] == "finished", out
    run_dir = tmp_path / "p" / "seed-0"
    assert json.loads((run_dir / "env.json").read_text())["executor"]["resources"] == {"CPU": 2.0}
    ranks = [json.loads((d / "result.json").read_text()) for d in (run_dir, tmp_path / "p" / "seed-0-rank1")]
    assert ranks[0]["genotype"] == ranks[1]["genotype"]
    rows = (tmp_path / "p" / "ray" / "tune" / "seed-0" / "progress.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert [row.split(",")[header.index("epoch")] for row in rows[1:3]] == ["0", "1"]  # rank 0's epochs, streamed


def test_a_parallel_black_box_search_resumes_with_its_evaluations_in_flight(local_ray, tmp_path):
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"
    run_dir = tmp_path / "s"
    args = ["search", str(recipe), "-p", "quick", "-q", "--set", "blackbox.parallel=2",
            "--set", "blackbox.proposer.name='rea'", "--run-dir", str(run_dir)]
    assert CliRunner().invoke(main, args).exit_code == 0
    lines = (run_dir / "history.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "history.jsonl").write_text("".join(lines[:7]))  # stopped with evaluations in flight
    (run_dir / "result.json").unlink()
    resumed = CliRunner().invoke(main, ["search", "--resume", str(run_dir), "-q"])
    assert resumed.exit_code == 0, resumed.output
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert len(history) == 20 and sorted(h["asked"] for h in history) == list(range(20))
    assert all(h["asks"] <= 20 for h in history)


def _interrupted_batch(cwd: Path, recipe: Path, batch: Path, executor: str, seeds: str, epochs: int,
                       at: str) -> tuple[int, str, str]:
    """``automl run --seeds`` in a process sent SIGINT once seed 0 prints ``at``: (exit code, stdout, stderr)."""
    import signal
    import subprocess
    import sys

    # SIGINT at its default in the child: one inherited as ignored (a worker process of the test runner
    # may ignore it) keeps Python from raising KeyboardInterrupt, and the batch ran to its end (seen once)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "automl"), "run", str(recipe), "--seeds", seeds,
                             "--executor", executor, "--set", f"search.epochs={epochs}", "--run-dir", str(batch)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_at_default)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if f"trial seed-0: {at}" in line:
            break
    proc.send_signal(signal.SIGINT)
    try:
        rest, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired as exc:  # say what held it (seen once in CI, never here): the driver or a pipe
        raise AssertionError(f"no end 120 s after SIGINT; {_holders(proc)}\nstdout: {exc.output!r}\n"
                             f"stderr: {exc.stderr!r}") from None
    return proc.returncode, rest, "".join(seen) + stderr


def _holders(proc) -> str:
    """Whether ``proc`` is alive (its stacks, by py-spy) and which processes hold its output pipes."""
    import os
    import subprocess
    import sys

    alive = proc.poll() is None
    said = f"driver {'alive' if alive else f'exited {proc.returncode}'}"
    if alive and (Path(sys.executable).parent / "py-spy").exists():  # Ray's `default` extra installs it
        spy = Path(sys.executable).parent / "py-spy"
        for native in (["--native"], []):  # C frames say what a thread waits on; not every build unwinds them
            dump = subprocess.run([str(spy), "dump", *native, "--pid", str(proc.pid)], capture_output=True, text=True,
                                  timeout=60)
            if dump.returncode == 0:
                said += "\n" + dump.stdout[-8000:]
                break
    pipes = {os.readlink(f"/proc/self/fd/{f.fileno()}") for f in (proc.stdout, proc.stderr)}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            cmd = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200]
        except OSError:
            continue
        if fds & pipes and int(pid) != os.getpid():
            said += f"\npipe held by {pid}: {cmd}"
    proc.kill()
    return said


def test_ctrl_c_stops_a_ray_seed_batch_as_an_interruption_that_resume_continues(tmp_path, toy_recipe):
    batch = tmp_path / "b"
    returncode, rest, stderr = _interrupted_batch(tmp_path, toy_recipe, batch, "ray", "0", 120, "epoch 5/120")
    assert returncode == 130, stderr[-2000:]
    assert f"seed batch {batch} stopped" in stderr and f"continue with `automl run --resume {batch}`" in stderr
    assert "SystemExit" not in stderr and "Tuner.restore" not in stderr  # was: every trial "failed", exit 5
    assert json.loads(rest) == {"status": "interrupted", "run_dir": str(batch),
                                "trials": {"planned": 1, "finished": [], "interrupted": ["seed-0"]}}  # stdout was empty
    from click.testing import CliRunner

    from automl_nas.cli import main

    # Ray stopped the worker without its `finally`: the driver ends its attempt, and show says interrupted
    stopped = [json.loads(line) for line in (batch / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert stopped[-1]["status"] == "interrupted" and "stopped with its seed batch" in stopped[-1]["error"]
    shown = json.loads(CliRunner().invoke(main, ["show", str(batch), "--json"]).output)
    assert [r["status"] for r in shown["rows"]] == ["interrupted"]

    # Here, on this machine's executor (no second private Ray to start): the trial's checkpoint is what counts.
    before = Path.cwd()
    resumed = CliRunner().invoke(main, ["run", "--resume", str(batch), "--executor", "local", "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert Path.cwd() == before  # the trial ran in the batch's working directory, and left this one as it was
    attempts = [json.loads(line) for line in (batch / "attempts" / "seed-0.jsonl").read_text().splitlines()]
    assert attempts[-1]["resumed"] is True and attempts[-1]["status"] == "finished"


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_during_tune_s_callbacks_stops_the_ray_batch_at_tune_s_next_step(tmp_path, toy_recipe, signame):
    """The interruption was raised wherever the driver's main thread was, often in Tune's result
    callbacks (its loggers' queues and files, mid-update; once in CI the driver printed its summary
    and did not exit). The signal now only asks, and Tune's next step raises it: code running when
    it arrives (here the epoch printer) runs to its end."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import os, signal, sys
        from automl_nas.execution import trials
        def printer(quiet):
            def on_epoch(event):
                if event.epoch == 2:
                    os.kill(os.getpid(), signal.{signame})
                    print("after the signal, in the callback", file=sys.stderr, flush=True)
                return False
            return on_epoch
        trials.epoch_printer = printer
        from automl_nas.cli import main
        main(["run", {str(toy_recipe)!r}, "--seeds", "0", "--executor", "ray", "--set", "search.epochs=100",
              "--run-dir", {str(tmp_path / "b")!r}])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          preexec_fn=_sigint_at_default)
    assert done.returncode == 130, done.stderr[-3000:]
    assert "after the signal, in the callback" in done.stderr and f"seed batch {tmp_path / 'b'} stopped" in done.stderr


def _sigint_at_default() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_on_a_local_seed_batch_reports_the_batch_not_its_running_trial(tmp_path, make_toy_recipe):
    """Locally, the stopped trial's own summary and `--resume BATCH/seed-1` were printed, as if it
    were a single run; the batch's resume line and summary are what continue it."""
    batch = tmp_path / "b"
    returncode, rest, stderr = _interrupted_batch(tmp_path, make_toy_recipe(count=32), batch, "local", "0-1", 200,
                                                  "epoch 3/200")
    assert returncode == 130, stderr[-2000:]
    assert f"continue with `automl run --resume {batch}`" in stderr and "seed-0`" not in stderr
    assert json.loads(rest) == {"status": "interrupted", "run_dir": str(batch),
                                "trials": {"planned": 2, "finished": [], "interrupted": ["seed-0"]}}


@pytest.mark.parametrize("stop", ["interrupted", "cut short"])
def test_an_attempt_stopped_by_ctrl_c_is_logged_interrupted_not_failed(tmp_path, toy_recipe, monkeypatch, stop):
    """A second Ctrl-C during a study's stop reached the trial as a bare KeyboardInterrupt, and its
    attempt was logged "failed" (and counted so by `show`)."""
    import automl_nas.session as session
    from automl_nas.errors import Interrupted
    from automl_nas.execution.executor import attempt_trial
    from automl_nas.execution.trial import TrialSpec, read_attempts

    def stopped(*args, **kwargs):
        raise Interrupted("stopped by SIGINT after epoch 1") if stop == "interrupted" else KeyboardInterrupt

    monkeypatch.setattr(session, "run_recipe_file", stopped)
    spec = TrialSpec(recipe_path=toy_recipe, run_dir=tmp_path / "t", name="trial-0")
    with pytest.raises((Interrupted, KeyboardInterrupt)):
        attempt_trial(spec, lambda _event: None)
    assert [a["status"] for a in read_attempts(spec)] == ["interrupted"]
