"""Optuna studies over recipes (issue 6): resume from SQLite, pruning, Pareto front."""

from __future__ import annotations

import contextlib

import json
from pathlib import Path

import pytest

import optuna

from automl_nas.study.driver import run_study
from automl_nas.hookspecs import hookimpl
from automl_nas.study.pruning import PruningReporter, TrialPruned

STUDY = """
[study]
name = "s"
trials = 2
pruner = "none"
sampler = "random"
{objective}
[study.params]
"search.arch_optimizer.lr" = {{ type = "float", low = 1e-4, high = 1e-1, log = true }}
"data.batch_size" = {{ type = "categorical", choices = [8, 16] }}
"""


@pytest.fixture
def recipe(make_toy_recipe):
    def make(objective: str = 'metric = "metrics.convs"') -> Path:
        return make_toy_recipe(count=32, tail=STUDY.format(objective=objective))

    return make


def test_killed_study_resumes_from_sqlite_without_repeating_finished_trials(tmp_path, recipe):
    from click.testing import CliRunner

    from automl_nas.study.cli import study as study_cmd

    path = recipe()
    first = run_study(path, quiet=True)
    assert first["trials"] == 2
    sdir = Path(first["study_dir"])
    stamps = {p.name: (p / "result.json").stat().st_mtime_ns for p in sdir.glob("trial-*")}
    # A killed driver leaves its current trial RUNNING in the storage.
    killed = optuna.load_study(study_name="s", storage=first["storage"])
    killed.ask()
    res = CliRunner().invoke(study_cmd, [str(path), "--trials", "4", "-q"])
    assert res.exit_code == 0, res.output
    study = optuna.load_study(study_name="s", storage=first["storage"])
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    for name, stamp in stamps.items():  # finished trials were not run again
        assert (sdir / name / "result.json").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in sdir.glob("trial-*")) == ["trial-0000", "trial-0001", "trial-0003", "trial-0004"]
    lrs = [t.params["search.arch_optimizer.lr"] for t in study.trials if t.state.name == "COMPLETE"]
    assert len(set(lrs)) == 4  # a resumed random sampler does not replay the first trials
    for t in study.trials:
        if t.state.name == "COMPLETE":
            result = json.loads((Path(t.user_attrs["run_dir"]) / "result.json").read_text())
            assert t.value == result["metrics"]["convs"]
    assert (sdir / "trials.csv").read_text().count("\n") == 6
    assert (sdir / "history.html").exists() and (sdir / "best.json").exists()


class FakeTrial:
    number = 7

    def __init__(self, threshold: float) -> None:
        self.threshold, self.values = threshold, []

    def report(self, value, step):
        self.values.append((step, value))

    def should_prune(self):
        return self.values[-1][1] < self.threshold


def test_pruner_verdict_stops_the_worker_through_the_epoch_relay():
    from types import SimpleNamespace

    from automl_nas.execution.epochs import EpochRelay

    poor = PruningReporter(FakeTrial(threshold=50.0))
    relay = EpochRelay("trial-7", lambda ev: poor.observe(ev.epoch, ev.metrics), wants_answer=True)
    run = SimpleNamespace(num_epochs=3)
    relay.automl_epoch_end(run=run, epoch=0, metrics={"valid_acc": 60.0})
    with pytest.raises(TrialPruned, match="trial-7 stopped by the study's pruner after epoch 2"):
        relay.automl_epoch_end(run=run, epoch=1, metrics={"valid_acc": 40.0})
    assert poor.reported == [(0, 60.0), (1, 40.0)]
    # A relay that does not wait for answers (a seed batch's progress) never stops its run.
    EpochRelay("seed-0", lambda ev: True).automl_epoch_end(run=run, epoch=0, metrics={"valid_acc": 1.0})


def test_the_last_epoch_is_reported_but_never_pruned():
    # A trial stopped after its last epoch lost its finished search and its final evaluation.
    reporter = PruningReporter(FakeTrial(threshold=50.0))
    assert reporter.observe(0, {"valid_acc": 40.0}, num_epochs=3) is True
    assert reporter.observe(2, {"valid_acc": 40.0}, num_epochs=3) is False
    assert reporter.reported == [(0, 40.0), (2, 40.0)]  # Optuna still gets the value of the last epoch
    assert reporter.observe(2, {"valid_acc": 40.0}) is True  # the run's length unknown: the pruner decides


def test_median_pruner_stops_a_poor_run_after_its_first_epoch(tmp_path, recipe):
    from optuna.trial import TrialState, create_trial
    from optuna.distributions import FloatDistribution

    from automl_nas.execution.executor import LocalExecutor
    from automl_nas.execution.trial import TrialSpec

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    # An earlier trial whose valid_acc was above anything the toy reaches (it is at most 100).
    study.add_trial(create_trial(value=1.0, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                 intermediate_values={0: 101.0, 1: 101.0}))
    trial = study.ask()
    spec = TrialSpec(recipe_path=recipe(), run_dir=tmp_path / "t", name="trial-1")
    reporter = PruningReporter(trial)
    # The verdict is the driver's: the worker only relays its epochs (Optuna's public API, no storage access).
    with LocalExecutor(retries=2, on_epoch=lambda ev: reporter.observe(ev.epoch, ev.metrics)) as executor:
        executor.submit(spec, answer=True)
        outcome = executor.wait()
    assert outcome.status == "pruned" and outcome.attempts == 1  # a pruned trial is not retried
    result = json.loads((tmp_path / "t" / "result.json").read_text())
    assert result["status"] == "pruned" and result["epochs_done"] == 1  # stopped after epoch 0 of 2
    study.tell(trial, state=TrialState.PRUNED)
    assert study.trials[-1].intermediate_values == {0: pytest.approx(reporter.reported[0][1])}


def test_two_objective_study_returns_a_non_empty_pareto_front(tmp_path, recipe):
    objective = 'metrics = ["metrics.convs", "search_time_s"]\ndirections = ["maximize", "minimize"]'
    out = run_study(recipe(objective), trials=3, quiet=True)
    assert out["trials"] == 3
    assert len(out["best"]) >= 1 and all(len(b["values"]) == 2 for b in out["best"])
    study = optuna.load_study(study_name="s", storage=out["storage"])
    front = {t.number for t in study.best_trials}
    assert {b["number"] for b in out["best"]} == front
    assert Path(out["study_dir"], "pareto_front.html").exists()


class _FailOnce:
    """A plugin that fails the first attempt of every trial after its first epoch (a lost disk)."""

    def __init__(self) -> None:
        self.failed: set[str] = set()

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics):
        key = str(run.run_dir.path)
        if key not in self.failed:
            self.failed.add(key)
            raise OSError("worker lost its disk")


def _plugin_in_every_trial(monkeypatch, plugin) -> None:
    import automl_nas.execution.executor as executor

    real = executor.run_trial
    monkeypatch.setattr(executor, "run_trial", lambda spec, extra_plugins=(), placement=None: real(
        spec, extra_plugins=[*extra_plugins, (plugin, "fail-once")], placement=placement))


def test_a_failing_study_trial_is_retried_in_the_same_optuna_trial_from_its_checkpoint(tmp_path, recipe, monkeypatch):
    _plugin_in_every_trial(monkeypatch, _FailOnce())
    out = run_study(recipe(), trials=2, overrides=["executor.retries=1"], quiet=True)
    assert out["trials"] == 2
    trials = optuna.load_study(study_name="s", storage=out["storage"]).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]  # one Optuna trial per parameter set
    for t in trials:
        assert t.user_attrs["attempts"] == 2
        run_dir = Path(t.user_attrs["run_dir"])
        log = [json.loads(x) for x in (run_dir.parent / "attempts" / f"{run_dir.name}.jsonl").read_text().splitlines()]
        ends = [e for e in log if e["status"] != "running"]
        assert [e["status"] for e in ends] == ["failed", "finished"] and "worker lost its disk" in ends[0]["error"]
        assert ends[1]["resumed"] is True  # the retry continued from the first attempt's checkpoint
        epochs = [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert epochs == [0, 1]  # epoch 0 is not repeated
        assert t.value == json.loads((run_dir / "result.json").read_text())["metrics"]["convs"]


def test_study_trial_failures_without_retries_are_told_failed_once(tmp_path, recipe, monkeypatch):
    _plugin_in_every_trial(monkeypatch, _FailOnce())
    from automl_nas.errors import RunError

    with pytest.raises(RunError, match="2 trials failed; last error: .*worker lost its disk"):
        run_study(recipe(), trials=2, quiet=True)
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'runs' / 'studies' / 's' / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert all(t.user_attrs["attempts"] == 1 and "worker lost its disk" in t.user_attrs["error"] for t in study.trials)


class _TrialFault:
    """Raises ``error()`` at the first epoch of the trials ``fails`` picks by their start order."""

    def __init__(self, fails, error) -> None:
        self.fails, self.error, self.runs = fails, error, []

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics):
        key = str(run.run_dir.path)
        if key not in self.runs:
            self.runs.append(key)
        if self.fails(self.runs.index(key)):
            raise self.error()


def test_a_study_stopped_by_failing_trials_still_reports_the_trials_it_finished(tmp_path, recipe, monkeypatch):
    """It left only study.db: no trials.csv or best.json for its finished trial."""
    from automl_nas.errors import RunError

    _plugin_in_every_trial(monkeypatch, _TrialFault(lambda i: i > 0, lambda: OSError("worker lost its disk")))
    with pytest.raises(RunError, match="2 trials failed"):
        run_study(recipe(), trials=2, quiet=True)
    sdir = tmp_path / "runs" / "studies" / "s"
    best = json.loads((sdir / "best.json").read_text())["best"]
    assert [Path(b["run_dir"]).name for b in best] == ["trial-0000"]
    assert (sdir / "trials.csv").read_text().count("\n") == 4  # the header, one COMPLETE and two FAIL rows


def test_a_trial_whose_recipe_is_refused_is_not_retried_and_its_fix_is_kept(tmp_path, recipe, monkeypatch):
    """A refusal was retried like a lost worker (the same recipe fails the same way) and its fix lost."""
    from automl_nas.errors import RecipeError

    refused = _TrialFault(lambda i: i == 0, lambda: RecipeError("search.x = 1 is refused here", hint="set search.x = 2"))
    _plugin_in_every_trial(monkeypatch, refused)
    out = run_study(recipe(), trials=2, overrides=["executor.retries=2"], quiet=True)
    trials = optuna.load_study(study_name="s", storage=out["storage"]).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["attempts"] == 1
    assert trials[0].user_attrs["error"] == "recipe error: search.x = 1 is refused here (fix: set search.x = 2)"


def test_pruner_key_is_dotted_into_the_epoch_record():
    # eval.cifar10 is the per-epoch benchmark score, nested in the record; epochs without it are skipped.
    reporter = PruningReporter(FakeTrial(threshold=50.0), key="eval.cifar10")
    assert not reporter.observe(0, {"valid_acc": 99.0, "eval": None})
    assert not reporter.observe(1, {"eval": {"cifar10": 60.0}})
    assert reporter.observe(2, {"eval.cifar10": 40.0})  # the flattened record the epoch stream carries
    assert reporter.reported == [(1, 60.0), (2, 40.0)]


def test_a_pruner_key_that_never_appears_is_an_error_not_a_silent_no_op_and_the_trial_keeps_its_value(tmp_path, recipe):
    from automl_nas.errors import RecipeError

    path = _with(recipe(), 'pruner = "median"\nintermediate = "eval.cifar10"')
    with pytest.raises(RecipeError) as info:  # the toy evaluator scores every epoch, but reports convs only
        run_study(path, trials=2, quiet=True, overrides=["search.eval_every=1"])
    message = str(info.value)
    assert "'eval.cifar10' appeared in no epoch record" in message and "valid_acc" in message and "eval.convs" in message
    assert "that trial's value is kept" in message
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] and study.trials[0].value is not None


@pytest.mark.parametrize("lines, message", [
    ('intermediate = "eval.cifar10"', "study.intermediate = 'eval.cifar10': eval.* is recorded only in the epochs the "
                                      "evaluator scores, and this search scores only after its last epoch"),
    ('intermediate = "valid_accc"', "study.intermediate = 'valid_accc': not a key of the epoch records; did you mean 'valid_acc'?"),
    ('intermediate = "eval.convs"', "(search.eval_every = 5 > search.epochs = 2)"),
])
def test_a_pruner_key_no_epoch_can_hold_is_refused_before_any_trial(recipe, lines, message):
    from automl_nas.errors import RecipeError

    path = _with(recipe(), f'pruner = "median"\n{lines}')
    with pytest.raises(RecipeError) as info:
        run_study(path, trials=2, quiet=True, overrides=["search.eval_every=5"] if "eval_every" in message else [])
    assert message in str(info.value)
    assert not list((path.parent / "runs").rglob("trial-*"))
    # a sampler's own status key is the sampler's to define: not refused before the trial
    from click.testing import CliRunner

    from automl_nas.cli import main

    checked = CliRunner().invoke(main, ["validate", str(path), "--set", 'study.intermediate="temperature"'])
    assert checked.exit_code == 0, checked.output


def _with(path: Path, lines: str) -> Path:
    text = path.read_text().replace('pruner = "none"\n', lines + "\n")
    path.write_text(text)
    return path


@pytest.mark.parametrize(("name", "cls"), [("median", "MedianPruner"), ("percentile", "PercentilePruner"),
                                           ("successive_halving", "SuccessiveHalvingPruner"),
                                           ("hyperband", "HyperbandPruner"), ("none", "NopPruner")])
def test_every_pruner_name_builds_its_optuna_pruner(name, cls):
    from automl_nas.study.config import StudyConfig
    from automl_nas.study.driver import _pruner

    cfg = StudyConfig(metric="metrics.convs", pruner=name, params={})
    assert type(_pruner(cfg)).__name__ == cls


def test_two_drivers_share_one_journal_study_without_killing_each_others_trials(tmp_path, recipe):
    import subprocess
    import sys

    path = recipe()
    journal = tmp_path / "study.journal"
    automl = Path(sys.executable).parent / "automl"
    # trials long enough (60 epochs, about a second) that the driver started second still finds trials to run
    drivers = [subprocess.Popen([str(automl), "study", str(path), "--trials", "6", "--storage", f"journal:{journal}",
                                 "--set", f'study.root="{tmp_path / name}"', "--set", "search.epochs=60", "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = [d.communicate(timeout=240) for d in drivers]
    assert all(d.returncode == 0 for d in drivers), [o[1][-1500:] for o in outs]
    from automl_nas.study.storage import open_storage

    study = optuna.load_study(study_name="s", storage=open_storage(f"journal:{journal}"))
    states = [t.state.name for t in study.trials]
    assert "FAIL" not in states and "RUNNING" not in states  # neither driver failed the other's live trial
    assert states.count("COMPLETE") >= 6
    dirs = {name: sorted(p.name for p in (tmp_path / name / "s").glob("trial-*")) for name in ("a", "b")}
    assert dirs["a"] and dirs["b"], dirs  # both drivers ran trials
    assert not set(dirs["a"]) & set(dirs["b"])  # and no trial ran twice
    assert len(dirs["a"]) + len(dirs["b"]) == len(study.trials)


def test_a_running_trial_is_dead_only_when_its_driver_is(monkeypatch):
    import os
    import socket
    import time as _time

    from automl_nas.study.storage import DRIVER_ATTR, GRACE_S, is_dead

    me = {"host": socket.gethostname(), "pid": os.getpid(), "beat": 0}
    assert not is_dead({DRIVER_ATTR: me})  # a live driver on this host, however old its beat
    gone = subprocess_pid_that_exited()
    assert is_dead({DRIVER_ATTR: {**me, "pid": gone}})
    other = {"host": "elsewhere", "pid": 1}
    assert not is_dead({DRIVER_ATTR: {**other, "beat": _time.time()}})
    assert is_dead({DRIVER_ATTR: {**other, "beat": _time.time() - GRACE_S - 1}})
    assert is_dead({})  # no driver record: a driver killed before it wrote one, or an older version


def test_a_trial_its_driver_records_while_another_driver_starts_is_not_failed():
    """Two drivers started together: one asks for a trial and records itself a moment later; the
    other, starting in between, must wait for the record instead of failing the live trial."""
    import threading

    from automl_nas.study.storage import DRIVER_ATTR, dead_running_trials, owner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    recorded, lost = study.ask(), study.ask()
    timer = threading.Timer(0.2, lambda: recorded.set_user_attr(DRIVER_ATTR, owner()))
    timer.start()
    dead = dead_running_trials(study, wait_s=1.5)
    timer.join()
    assert [t.number for t in dead] == [lost.number]  # the one never recorded is dead
    assert dead_running_trials(study, wait_s=0.0)[0].number == lost.number


def subprocess_pid_that_exited() -> int:
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_study_directory_is_refused_to_another_storage_s_study(tmp_path, recipe):
    """A second storage's study numbered its trials from 0 and took the directory's trial-0000,
    finished under the first study's parameters, for its own."""
    from automl_nas.errors import RunError

    path = recipe()
    first = run_study(path, trials=1, quiet=True, storage=f"sqlite:///{tmp_path / 'a.db'}")
    sdir = Path(first["study_dir"])
    before = (sdir / "trial-0000" / "result.json").read_bytes()
    with pytest.raises(RunError) as info:
        run_study(path, trials=1, quiet=True, storage=f"sqlite:///{tmp_path / 'b.db'}")
    assert f"holds the trials of study 's' in storage 'sqlite:///{tmp_path / 'a.db'}'" in str(info.value)
    assert "--storage" in str(info.value) and (sdir / "trial-0000" / "result.json").read_bytes() == before
    assert not (tmp_path / "b.db").exists() or not optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'b.db'}")
    again = run_study(path, trials=2, quiet=True, storage=f"sqlite:///{tmp_path / 'a.db'}")  # its own storage: resumes
    assert again["trials"] == 2 and (sdir / "trial-0000" / "result.json").read_bytes() == before


def test_a_study_recipe_that_names_a_ray_address_runs_its_trials_on_ray(tmp_path, recipe, monkeypatch):
    """One rule (ExecutorConfig.uses_ray) for studies, seed batches and black-box searches: the
    study driver read --address but not the recipe's executor.address, and ran the trials here."""
    import automl_nas.study.driver as driver

    chosen = []

    def record(executor_cfg, cfg, study_dir, address, on_ray, quiet, on_epoch):
        chosen.append(on_ray)
        raise RuntimeError("stop before any trial")

    monkeypatch.setattr(driver, "_executor", record)
    from automl_nas.execution import cluster

    monkeypatch.setattr(cluster, "joined_cluster",  # no head at 10.0.0.1: only the choice is tested
                        lambda address, root, **options: contextlib.nullcontext())
    path = recipe()
    for table, on_ray in (("", False), ('\n[executor]\naddress = "10.0.0.1:6379"\n', True),
                          ('\n[executor]\nname = "ray"\n', True)):
        path.write_text(path.read_text().split("\n[executor]")[0] + table)
        with pytest.raises(RuntimeError, match="stop before any trial"):
            run_study(path, trials=1, quiet=True)
    assert chosen == [False, True, True]


def test_a_report_that_cannot_be_written_is_a_run_error_and_the_rerun_writes_it(tmp_path, recipe, monkeypatch):
    import errno
    import os

    from automl_nas.errors import RunError
    from automl_nas.study import report

    class FullDisk:
        def to_csv(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    path = recipe()
    monkeypatch.setattr(report, "_trials_table", lambda study, study_dir: FullDisk())
    with pytest.raises(RunError, match=r"cannot write the study's report \(No space left on device\)") as caught:
        run_study(path, quiet=True)
    assert "run the same `automl study` command again: its trials are kept in the storage" in caught.value.hint
    monkeypatch.undo()
    again = run_study(path, quiet=True)  # no trial is run again: the report is written from the storage
    assert again["trials"] == 2 and (Path(again["study_dir"]) / "trials.csv").is_file()
    assert sorted(p.name for p in Path(again["study_dir"]).glob("trial-*")) == ["trial-0000", "trial-0001"]


def test_a_storage_that_fills_mid_study_stops_the_driver_with_the_reason_and_the_rerun_goes_on(tmp_path, recipe,
                                                                                              monkeypatch):
    import sqlite3

    from automl_nas.errors import RunError
    from automl_nas.study import driver

    real_ask, asked = driver._Driver.ask, []

    def ask_on_a_filling_disk(self):
        asked.append(1)
        if len(asked) == 2:  # as Optuna's RDB storage reports SQLite's full disk on commit
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as cause:
                raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause
        return real_ask(self)

    monkeypatch.setattr(driver._Driver, "ask", ask_on_a_filling_disk)
    path = recipe()
    with pytest.raises(RunError, match=r"study 's': a write to its storage sqlite:///.*study\.db failed "
                                       r"\(OperationalError: database or disk is full\)") as caught:
        run_study(path, quiet=True)
    assert "run the same `automl study` command again: the trials it recorded are kept" in caught.value.hint
    monkeypatch.undo()
    again = run_study(path, quiet=True)
    assert again["trials"] == 2


def test_a_journal_file_that_fills_is_named_and_other_os_errors_are_not_called_storage_failures(tmp_path, recipe,
                                                                                                 monkeypatch):
    import errno
    import os

    from automl_nas.errors import RunError
    from automl_nas.study import driver

    def ask_on_a_full_disk(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(driver._Driver, "ask", ask_on_a_full_disk)
    path = recipe()
    journal = f"journal:{tmp_path / 'study.log'}"
    with pytest.raises(RunError, match=rf"a write to its storage {journal} failed \(No space left on device\)"):
        run_study(path, quiet=True, storage=journal)
    with pytest.raises(OSError):  # with a database storage an OSError is not the storage's: not reworded as one
        run_study(path, quiet=True, storage=f"sqlite:///{tmp_path / 'other.db'}", overrides=['study.name="s2"'])


def test_list_valued_choices_get_every_plot_and_the_storage_keeps_the_lists(tmp_path):
    """Optuna's parallel-coordinate and slice plots stopped at a list choice ("unhashable type:
    'list'") and the study said so only in best.json's plot_notes."""
    import warnings

    from automl_nas.study.config import StudyConfig
    from automl_nas.study.report import write_report

    pytest.importorskip("plotly")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna warns that a list is not a plain categorical value
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(6):
            trial = study.ask()
            stages = trial.suggest_categorical("search.sampler.stage_epochs", [[2, 2], [3, 1]])
            lr = trial.suggest_float("search.arch_optimizer.lr", 1e-4, 1e-1, log=True)
            study.tell(trial, stages[0] + lr)
        out = write_report(study, tmp_path, StudyConfig(metric="metrics.x", pruner="none"))
    assert not [n for n in out["plot_notes"] if n.startswith(("parallel_coordinate", "slice"))], out["plot_notes"]
    for plot in ("parallel_coordinate", "slice"):
        page = (tmp_path / f"{plot}.html").read_text()
        assert "[2, 2]" in page or "[3, 1]" in page
    assert all(isinstance(t.params["search.sampler.stage_epochs"], list) for t in study.trials)
    assert {tuple(t["params"]["search.sampler.stage_epochs"]) for t in out["best"]} <= {(2, 2), (3, 1)}


def test_a_pruner_key_in_the_trial_s_records_is_no_error_when_a_resumed_trial_reports_no_epoch(tmp_path):
    """A trial resumed after its last epoch (its driver died in the final evaluation) reports no
    epoch to the new driver: the study stopped with "'valid_acc' appeared in no epoch record"."""
    from automl_nas.study.driver import _recorded

    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0, "valid_acc": 10.0, "eval": {"cifar10": 91.0}}\n')
    assert _recorded(str(tmp_path), "valid_acc") and _recorded(str(tmp_path), "eval.cifar10")
    assert not _recorded(str(tmp_path), "eval.cifar100") and not _recorded(str(tmp_path / "none"), "valid_acc")


def test_a_study_with_list_choices_and_two_objectives_runs_without_optuna_s_warnings(tmp_path, recipe):
    """List choices are allowed (stored as JSON and read back whole), but Optuna warned twice per
    trial that they might not be, and the report's copy of the study warned set_metric_names is
    experimental."""
    import warnings

    objective = 'metrics = ["metrics.convs", "search_time_s"]\ndirections = ["maximize", "minimize"]'
    path = recipe(objective)
    path.write_text(path.read_text() + '"search.arch_optimizer.betas" = { type = "categorical", choices = '
                                       '[[0.5, 0.999], [0.9, 0.999]] }\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run_study(path, trials=2, quiet=True)
    assert out["trials"] == 2
    said = [str(w.message) for w in caught if "categorical distribution" in str(w.message)
            or "set_metric_names" in str(w.message)]
    assert said == []
    with warnings.catch_warnings():  # this test's own plain Optuna reading warns (the tool's readers do not)
        warnings.simplefilter("ignore")
        study = optuna.load_study(study_name="s", storage=out["storage"])
        assert all(t.params["search.arch_optimizer.betas"] in ([0.5, 0.999], [0.9, 0.999]) for t in study.trials)


def test_a_plot_bundle_cut_short_is_written_whole_by_the_next_report(tmp_path, recipe):
    """A full disk cut plotly.min.js short; plotly writes it only when missing, so every later
    plot page of the study loaded a broken script."""
    import plotly.offline

    out = run_study(recipe(), trials=1, quiet=True)
    script = Path(out["study_dir"]) / "plotly.min.js"
    whole = plotly.offline.get_plotlyjs().encode()
    assert script.read_bytes() == whole
    script.write_bytes(whole[:311_296])
    run_study(recipe(), trials=2, quiet=True)
    assert script.read_bytes() == whole
    assert 'src="plotly.min.js"' in (Path(out["study_dir"]) / "history.html").read_text()
