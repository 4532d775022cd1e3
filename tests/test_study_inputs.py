"""Study inputs refused early and resumed studies kept honest (issue 12)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from automl_nas.cli import main

STUDY = """
[study]
name = "s"
trials = {trials}
pruner = "none"
sampler = "random"
metric = "metrics.convs"
[study.params]
{params}
"""
LR = '"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }'


@pytest.fixture
def study_recipe(make_toy_recipe):
    def make(params: str = LR, trials: int = 1, retries: int = 0) -> Path:
        tail = STUDY.format(trials=trials, params=params) + f"\n[executor]\nretries = {retries}\n"
        return make_toy_recipe(count=32, tail=tail)

    return make


def study(*args):
    result = CliRunner().invoke(main, ["study", *map(str, args), "-q"])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("storage,message", [
    ("nosuchdb://host/db", "names a database kind SQLAlchemy does not know ('nosuchdb')"),
    ("sqlite:////no/such/directory/study.db", "names a file in /no/such/directory, which does not exist"),
    ("sqlite:////no/such/directory/study.db?timeout=5", "names a file in /no/such/directory, which does not exist"),
    ("/tmp/x.db", "is not a storage URL"),  # a path without sqlite:///
    ("journal:/tmp", "names the directory /tmp, not a file"),
])
def test_storage_that_cannot_be_opened_names_the_url(study_recipe, storage, message):
    """Refused by validate too (it said ok; only the study refused them)."""
    path = study_recipe()
    result = study(path, "--storage", storage)
    assert result.exit_code == 2 and message in result.output and storage in result.output, result.output
    assert not (path.parent / "runs" / "studies" / "s").exists()  # nothing is created for a refused run
    checked = CliRunner().invoke(main, ["validate", str(path), "--set", f"study.storage={storage!r}"])
    assert checked.exit_code == 2 and message in checked.output, checked.output


def test_a_mistyped_parameter_key_is_refused_before_any_trial(study_recipe):
    path = study_recipe(params='"search.arch_optimiser.lr" = { type = "float", low = 1e-4, high = 1e-1 }')
    result = study(path)
    assert result.exit_code == 2 and "study.params.search.arch_optimiser.lr" in result.output
    assert "did you mean" in result.output
    assert not list((path.parent / "runs").rglob("trial-*"))


def test_an_out_of_range_bound_is_refused_before_any_trial(study_recipe):
    path = study_recipe(params='"search.weights_optimizer.lr" = { type = "float", low = 1e-4, high = 2.0 }')
    result = study(path)
    assert result.exit_code == 2 and "study.params.search.weights_optimizer.lr = 0.0001" in result.output


@pytest.mark.parametrize("metric, message", [
    ("convs", "'convs': not a path into result.json; did you mean 'metrics.convs'?"),
    ("metrics", "'metrics': names the table 'metrics', not a number in it; e.g. metrics.NAME"),
    ("search_time_s.total", "'search_time_s.total': 'search_time_s' is a number, with nothing below it"),
    ("last_epoc.valid_acc", "'last_epoc.valid_acc': not a path into result.json; did you mean 'last_epoch'?"),
])
def test_a_metric_that_cannot_be_in_result_json_is_refused_before_any_trial(study_recipe, metric, message):
    path = study_recipe()
    path.write_text(path.read_text().replace('metric = "metrics.convs"', f'metric = "{metric}"'))
    result = study(path)
    assert result.exit_code == 2 and f"study.metric = {message}" in result.output, result.output
    assert not list((path.parent / "runs").rglob("trial-*"))


def test_validate_checks_a_study_recipe_s_metric_and_parameters_without_importing_torch(study_recipe):
    import subprocess
    import sys

    path = study_recipe()
    ok = CliRunner().invoke(main, ["validate", str(path)])
    assert ok.exit_code == 0 and "study 's': 1 parameter(s) by metrics.convs" in ok.output, ok.output
    metric = CliRunner().invoke(main, ["validate", str(path), "--set", "study.metric='convs'"])
    assert metric.exit_code == 2 and "study.metric = 'convs': not a path into result.json" in metric.output
    mistyped = study_recipe(params='"search.arch_optimiser.lr" = { type = "float", low = 1e-4, high = 1e-1 }')
    key = CliRunner().invoke(main, ["validate", str(mistyped)])
    assert key.exit_code == 2 and "study.params.search.arch_optimiser.lr" in key.output, key.output
    path = study_recipe()
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom automl_nas.cli import main\n"
             f"assert CliRunner().invoke(main, ['validate', {str(path)!r}]).exit_code == 0\n"
             "print(sorted(m for m in ('torch', 'optuna', 'ray') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_every_objective_of_a_multi_objective_study_is_checked():
    from automl_nas.errors import RecipeError
    from automl_nas.study.config import StudyConfig, check_result_paths

    def check(*metrics: str) -> None:
        cfg = StudyConfig(metrics=list(metrics), directions=["maximize"] * len(metrics), params={})
        check_result_paths(cfg, has_evaluator=True, source="r.toml")

    check("metrics.cifar10", "costs.params", "search_time_s")
    for bad, message in ((("metrics.cifar10", "costs"), "study.metrics = 'costs': names the table"),
                         (("", "metrics.cifar10"), "study.metrics = '': empty")):
        with pytest.raises(RecipeError, match=message):
            check(*bad)


def test_a_metric_of_a_recipe_without_evaluator_or_one_its_evaluator_does_not_report_is_refused_before_any_trial(
        study_recipe):
    path = study_recipe()
    text = path.read_text()
    path.write_text(text.replace('[evaluator]\nname = "toy-count"\n', ""))
    assert "toy-count" not in path.read_text()
    result = study(path)
    assert result.exit_code == 2 and "the recipe has no [evaluator], so result.json has no metrics" in result.output
    # A well-formed path whose key the evaluator does not declare: refused before trial 0's search
    # (it used to be found in trial 0's result.json, after that trial's whole search).
    path.write_text(text.replace('metric = "metrics.convs"', 'metric = "metrics.conv"'))
    absent = study(path)
    assert absent.exit_code == 2, absent.output
    assert ("study.metric = 'metrics.conv': evaluator 'toy-count' reports no metric 'conv'; did you mean 'convs'? "
            "(it reports convs)") in absent.output
    assert not list((path.parent / "runs").rglob("trial-*"))


def test_a_metric_an_evaluator_that_declares_none_does_not_report_stops_after_its_trial(study_recipe, monkeypatch):
    from automl_nas_toy.space import CountConvs

    monkeypatch.setattr(CountConvs, "metrics", ())  # declares nothing: only a result can tell
    path = study_recipe()
    path.write_text(path.read_text().replace('metric = "metrics.convs"', 'metric = "metrics.conv"'))
    absent = study(path)
    assert absent.exit_code == 2 and "study.metric: ['metrics.conv'] not found in" in absent.output
    assert "metrics.convs" in absent.output  # the numeric keys the result has


@pytest.mark.parametrize("changed", [
    '"search.arch_optimizer.lr" = { type = "float", low = 1e-3, high = 1e-1, log = true }',  # a new range
    '"search.arch_optimizer.lr" = { type = "categorical", choices = [0.001, 0.01] }',  # float -> categorical
])
def test_a_resumed_study_with_another_parameter_space_is_refused(study_recipe, changed):
    path = study_recipe()
    assert study(path).exit_code == 0
    path.write_text(path.read_text().replace(LR, changed))
    result = study(path, "--trials", "2")
    assert result.exit_code == 2 and "was run with another parameter space" in result.output
    assert "search.arch_optimizer.lr: was" in result.output and "new study.name" in result.output
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 1  # nothing mixed in


def test_a_resumed_study_under_another_recipe_is_refused_naming_the_keys_and_may_change_where_it_runs(study_recipe):
    path = study_recipe()
    assert study(path).exit_code == 0
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    # More epochs, or another sampler option: new trials would be ranked against the old ones.
    longer = study(path, "--trials", "2", "--set", "search.epochs=3")
    assert longer.exit_code == 2 and "ran its trials under another recipe (search.epochs: was 2, now 3)" in longer.output
    assert "new study.name" in longer.output
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 1  # nothing mixed in
    # A default spelled out is the same protocol; the study's own table, [run] and [executor] may change
    # (a --set of the key the study varies is refused: each trial sets its own value over it).
    same = study(path, "--trials", "2", "--set", "search.arch_optimizer.name=\"adam\"", "--set", "run.threads=2",
                 "--set", "executor.retries=1")
    assert same.exit_code == 0, same.output
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2


def test_a_resumed_study_with_another_metric_is_refused(study_recipe):
    # Same direction, another quantity: its values went into the one objective column with the old ones.
    path = study_recipe()
    assert study(path).exit_code == 0
    other = study(path, "--trials", "2", "--set", "study.metric=\"last_epoch.valid_acc\"")
    text = " ".join(other.output.split())
    assert other.exit_code == 2 and "optimises ['metrics.convs'], the recipe asks for ['last_epoch.valid_acc']" in text, text
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 1  # nothing mixed in
    assert study(path, "--trials", "2").exit_code == 0


def test_a_trial_lost_with_its_driver_is_rerun_with_its_parameters(study_recipe):
    path = study_recipe(trials=1, retries=1)
    first = CliRunner().invoke(main, ["study", str(path), "-q"])
    assert first.exit_code == 0, first.output
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    lost = optuna.load_study(study_name="s", storage=storage).ask()
    lost_lr = lost.suggest_float("search.arch_optimizer.lr", 1e-4, 1e-1, log=True)  # the driver died here
    assert study(path, "--trials", "2").exit_code == 0
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert trials[lost.number].state.name == "FAIL"
    rerun = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert len(rerun) == 1 and rerun[0].state.name == "COMPLETE"
    assert rerun[0].params["search.arch_optimizer.lr"] == pytest.approx(lost_lr)


@pytest.mark.parametrize("recipe_name, study_name", [("toy", "toy-study"), ("gnn-latency-study", "gnn-latency-study")])
def test_the_default_study_name_does_not_repeat_study(recipe_name, study_name):
    from automl_nas.study.config import load_study_config

    raw = {"metric": "metrics.convs", "params": {"search.arch_optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}}
    assert load_study_config(raw, source="r.toml", recipe_name=recipe_name).name == study_name
    assert load_study_config({**raw, "name": "mine"}, source="r.toml", recipe_name=recipe_name).name == "mine"


class _StopAfterFirstEpoch:
    """Ctrl-C during a trial's second epoch: the run stops at the epoch's end (its checkpoint kept)."""

    from automl_nas import hookimpl

    @hookimpl
    def automl_epoch_end(self, run, epoch):
        run.request_stop("SIGINT")


def test_a_stopped_study_continues_its_trial_from_the_checkpoint_when_rerun(study_recipe, monkeypatch):
    import json

    from automl_nas import session

    path = study_recipe()  # executor.retries = 0: continuing a stopped trial spends no retry
    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([*extra, (_StopAfterFirstEpoch(), "stopper")]))
    stopped = study(path, "--set", "search.epochs=3")
    assert stopped.exit_code == 130, stopped.output
    assert "fix: run the same `automl study` command again: it continues the stopped trials" in stopped.output
    summary = json.loads(stopped.stdout)  # stdout still carries what the study holds (it was empty)
    assert summary["status"] == "interrupted" and summary["study"] == "s" and summary["trials"] == 0
    assert summary["best"] == [] and summary["study_dir"].endswith("studies/s")
    monkeypatch.setattr(session, "open_session", real)
    study_dir = path.parent / "runs" / "studies" / "s"
    storage = f"sqlite:///{study_dir / 'study.db'}"
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # queued again with its parameters
    assert trials[1].user_attrs["continues"] == "trial-0000"

    rerun = study(path, "--set", "search.epochs=3")
    assert rerun.exit_code == 0, rerun.output
    done = optuna.load_study(study_name="s", storage=storage).trials[1]
    assert done.state.name == "COMPLETE" and done.user_attrs["run_dir"] == str(study_dir / "trial-0000")
    assert done.params == trials[0].params
    attempts = [json.loads(line) for line in (study_dir / "attempts" / "trial-0000.jsonl").read_text().splitlines()]
    assert [(a["attempt"], a["resumed"], a["status"]) for a in attempts[1::2]] == [(1, False, "interrupted"),
                                                                                    (2, True, "finished")]
    epochs = [json.loads(line)["epoch"] for line in (study_dir / "trial-0000" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]  # the first epoch was not run again
    assert sorted(p.name for p in study_dir.glob("trial-*")) == ["trial-0000"]


class _StopSecondTrial:
    """Ctrl-C during the second trial of a two-epoch study: the third epoch end of the process."""

    from automl_nas import hookimpl

    def __init__(self) -> None:
        self.epochs = 0

    @hookimpl
    def automl_epoch_end(self, run, epoch):
        self.epochs += 1
        if self.epochs == 3:
            run.request_stop("SIGINT")


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_resumed_study_asks_for_the_parameters_the_uninterrupted_study_would(study_recipe, monkeypatch, sampler):
    from automl_nas import session

    path = study_recipe(params=LR + '\n"data.batch_size" = { type = "categorical", choices = [8, 16] }')
    args = ["--trials", "3", "--set", f'study.sampler="{sampler}"', "--set", "search.epochs=2"]
    whole = study(path, *args, "--set", 'study.name="whole"')
    assert whole.exit_code == 0, whole.output

    real, stopper = session.open_session, _StopSecondTrial()
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([*extra, (stopper, "stopper")]))
    assert study(path, *args, "--set", 'study.name="cut"').exit_code == 130
    monkeypatch.setattr(session, "open_session", real)
    assert study(path, *args, "--set", 'study.name="cut"').exit_code == 0

    def finished(name):
        storage = f"sqlite:///{path.parent / 'runs' / 'studies' / name / 'study.db'}"
        return [t.params for t in optuna.load_study(study_name=name, storage=storage).trials if t.state.name == "COMPLETE"]

    assert len({p["search.arch_optimizer.lr"] for p in finished("whole")}) == 3
    assert finished("cut") == finished("whole")


def test_a_relative_storage_names_one_file_wherever_the_study_runs(study_recipe, tmp_path, monkeypatch):
    import json

    path = study_recipe()
    root = tmp_path / "studies"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    first = study(path, "--storage", "journal:j.log", "--set", f"study.root='{root}'")
    assert first.exit_code == 0, first.output
    bound = json.loads((root / "s" / "study.json").read_text())["storage"]
    assert bound == f"journal:{tmp_path / 'a' / 'j.log'}"
    monkeypatch.chdir(tmp_path / "b")  # the same words name another file here: another study's trials
    second = study(path, "--storage", "journal:j.log", "--set", f"study.root='{root}'", "--trials", "2")
    assert second.exit_code == 5 and f"holds the trials of study 's' in storage '{bound}'" in second.output
    assert not (tmp_path / "b" / "j.log").exists()  # refused before opening it
    assert sorted(p.name for p in (root / "s").glob("trial-*")) == ["trial-0000"]


def test_a_storage_that_cannot_be_opened_does_not_bind_the_study_directory(study_recipe):
    path = study_recipe()
    # a URL that looks right but does not open (its driver is not installed): refused when opened
    opened = study(path, "--storage", "mysql://user@127.0.0.1:1/db")
    assert opened.exit_code == 5 and "cannot be opened" in opened.output, opened.output
    assert not (path.parent / "runs" / "studies" / "s" / "study.json").exists()
    assert study(path).exit_code == 0  # the default storage takes the directory


def test_trial_directories_their_storage_does_not_know_are_never_taken_for_new_trials(study_recipe):
    path = study_recipe()
    assert study(path).exit_code == 0
    study_dir = path.parent / "runs" / "studies" / "s"
    kept = (study_dir / "trial-0000" / "result.json").read_bytes()
    (study_dir / "study.db").unlink()  # "start over": trial 0 of a new study would adopt the old run
    again = study(path)
    assert again.exit_code == 5 and "holds trial directories that no trial of study 's'" in again.output
    assert "(trial-0000)" in again.output and "study.name" in again.output
    assert (study_dir / "trial-0000" / "result.json").read_bytes() == kept
    assert not (study_dir / "study.db").exists()  # the refused command made none (it left an empty one)


def test_a_damaged_storage_file_is_named_as_damaged(study_recipe):
    path = study_recipe()
    assert study(path).exit_code == 0
    db = path.parent / "runs" / "studies" / "s" / "study.db"
    db.write_bytes(db.read_bytes()[:4096])
    result = study(path, "--trials", "2")
    text = " ".join(result.output.split())
    assert result.exit_code == 5 and "the storage file is damaged: restore it from a copy" in text, text
    assert "driver is installed" not in text  # the fix for a URL that cannot be opened, not for this


@pytest.mark.parametrize("spec, message", [
    ('{ type = "float", low = 1e-5, high = 1e-2, log = true, step = 1e-4 }', ": step and log = true exclude each other"),
    ('{ type = "float", low = 1e-5, high = inf }', ".high: must be a finite number (got inf)"),
    ('{ type = "float", low = 1e-5, high = 1e-2, step = -1e-3 }', ": step must be > 0"),
    ('{ type = "int", low = 1.5, high = 3 }', ": an int parameter needs whole numbers: low = 1.5"),
    ('{ type = "int", low = 1, high = 3, step = 0.5 }', ": an int parameter needs whole numbers: step = 0.5"),
    ('{ type = "int", low = 1, high = 8, log = true, step = 2 }', ": step and log = true exclude each other"),
    ('{ type = "categorical", choices = [{ name = "adam" }] }', ": a choice cannot be a table"),
    # Optuna shrank these ranges with a warning only: a step past the range tuned nothing
    ('{ type = "float", low = 0.001, high = 0.01, step = 0.05 }',
     ": high - low = 0.009 is not a whole number of steps of 0.05, so Optuna would sample up to 0.001 only; nothing "
     "would be tuned"),
    ('{ type = "int", low = 1, high = 10, step = 4 }',
     ": high - low = 9 is not a whole number of steps of 4, so Optuna would sample up to 9 only; set high = 9"),
    # options the type does not read were dropped in silence (a forgotten type = "categorical")
    ('{ type = "float", low = 0.001, high = 0.01, choices = [0.1] }', ": a float parameter does not read choices"),
    ('{ type = "categorical", choices = [0.1, 0.2], low = 5, log = true }',
     ": a categorical parameter does not read low, log: give `choices` alone"),
])
def test_a_range_optuna_cannot_sample_is_refused_by_validate(study_recipe, spec, message):
    path = study_recipe(params=f'"search.arch_optimizer.lr" = {spec}')
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and f"study.params.search.arch_optimizer.lr{message}" in result.output, result.output


@pytest.mark.parametrize("extra, message", [
    ('direction = "minimize"', "study.direction: ignored with study.metrics"),
    ('metric = "not.a.path"', "study.metric: 'not.a.path' is ignored with study.metrics"),  # was not even checked
    ('pruner = "median"', "study.pruner = 'median': Optuna prunes single-objective studies only"),
])
def test_what_several_objectives_would_ignore_is_refused(study_recipe, extra, message):
    path = study_recipe()
    text = path.read_text().replace('pruner = "none"\n', "").replace(
        'metric = "metrics.convs"', f'metrics = ["metrics.convs", "search_time_s"]\n{extra}')
    path.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    if extra.startswith("metric ="):  # one of the metrics: a single-metric recipe made multi by --set
        path.write_text(path.read_text().replace(extra, 'metric = "metrics.convs"\ndirections = ["maximize", "minimize"]'))
        fine = CliRunner().invoke(main, ["validate", str(path)])
        assert fine.exit_code == 0, fine.output
    twice = path.read_text().replace(extra, "").replace('metric = "metrics.convs"\n', "").replace(
        'directions = ["maximize", "minimize"]', "").replace('"search_time_s"', '"metrics.convs"')
    path.write_text(twice)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and "study.metrics: 'metrics.convs' listed twice" in result.output, result.output


def test_an_unquoted_dotted_parameter_key_means_the_quoted_one(study_recipe):
    from automl_nas.study.config import load_study_config

    path = study_recipe()
    unquoted = CliRunner().invoke(main, ["validate", str(path), "--set",
                                         'study.params.search.arch_optimizer.lr={type="float", low=1e-3, high=1e-2}'])
    assert unquoted.exit_code == 0, unquoted.output
    assert "1 parameter(s)" in unquoted.output  # the override replaced the quoted key's range
    nested = {"metric": "metrics.convs", "params": {"search": {"arch_optimizer": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-2}, "weight_decay": {"type": "float", "low": 0.0, "high": 1e-3}}}}}
    cfg = load_study_config(nested, source="r.toml", recipe_name="r")
    assert sorted(cfg.params) == ["search.arch_optimizer.lr", "search.arch_optimizer.weight_decay"]
    assert cfg.params["search.arch_optimizer.lr"].low == 1e-3


@pytest.mark.parametrize("table, message", [
    ('metric = "costs.params"', "study.metric: 'costs.params' looks like a cost"),
    ('metrics = ["metrics.convs", "last_epoch.train_loss"]', "study.metrics: 'last_epoch.train_loss' looks like a cost"),
])
def test_a_cost_without_a_direction_is_refused_not_maximised(make_toy_recipe, table, message):
    """A study over latency or params without `directions` maximised them: it kept the worst trials."""
    tail = f'[study]\nname = "s"\n{table}\n[study.params]\n{LR}\n'
    path = make_toy_recipe(count=32, tail=tail)
    refused = CliRunner().invoke(main, ["validate", str(path)])
    assert refused.exit_code == 2 and message in refused.output, refused.output
    key = "directions" if "metrics" in table else "direction"
    # (minimising, the default median pruner would compare valid_acc the wrong way: no pruner here)
    told = "\n" + (f'{key} = ["maximize", "minimize"]' if key == "directions" else f'{key} = "minimize"\npruner = "none"')
    path.write_text(path.read_text().replace(table, table + told))
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_drivers_asking_at_the_same_moment_draw_different_parameters(tmp_path, sampler):
    """Two drivers on one storage counted the same sets before either's trial existed, seeded
    their samplers alike and ran the same parameters (one trial's compute wasted)."""
    from automl_nas.study.config import load_study_config
    from automl_nas.study.driver import _Driver

    cfg = load_study_config({"metric": "metrics.x", "sampler": sampler, "params": {
        "search.arch_optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}},
        source="s.toml", recipe_name="s")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=storage)

    def driver():
        return _Driver(cfg=cfg, study=optuna.load_study(study_name="s", storage=storage), study_dir=tmp_path,
                       recipe_path="s.toml", profile=None, overrides=[], seed=0, pm=None)

    first, second = driver(), driver()
    asked_meanwhile = []
    real_ask = first.study.ask

    def the_other_asks_first(*args, **kwargs):  # after this driver counted the sets asked before
        asked_meanwhile.append(second.ask())
        return real_ask(*args, **kwargs)

    first.study.ask = the_other_asks_first
    mine = first.ask()
    assert asked_meanwhile[0].name == "trial-0000" and mine.name == "trial-0001"
    assert mine.overrides != asked_meanwhile[0].overrides
    alone = driver()  # one driver asking twice in a row draws as those two did
    alone_storage = f"sqlite:///{tmp_path / 'alone.db'}"
    optuna.create_study(study_name="s", storage=alone_storage)
    alone.study = optuna.load_study(study_name="s", storage=alone_storage)
    assert [alone.ask().overrides for _ in range(2)] == [asked_meanwhile[0].overrides, mine.overrides]


def test_a_driver_that_raced_another_to_create_the_storage_opens_it(tmp_path, monkeypatch):
    """Two drivers on a fresh SQLite file: the loser of the race to create Optuna's schema stopped
    with "cannot be opened" and advice about paths and drivers."""
    from automl_nas.errors import RunError
    from automl_nas.study import driver
    from automl_nas.study.config import load_study_config

    cfg = load_study_config({"metric": "metrics.x", "params": {"x": {"type": "int", "low": 0, "high": 3}}},
                            source="s.toml", recipe_name="s")
    real, calls = optuna.create_study, []

    def raced_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: alembic_version.version_num")
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna, "create_study", raced_once)
    study = driver._create(cfg, f"sqlite:///{tmp_path / 's.db'}", ["maximize"])
    assert study.study_name == cfg.name and len(calls) == 2

    def always_raced(*args, **kwargs):
        raise RuntimeError("(sqlite3.OperationalError) database is locked")

    monkeypatch.setattr(optuna, "create_study", always_raced)
    monkeypatch.setattr(driver.time, "sleep", lambda _s: None)
    with pytest.raises(RunError) as raised:
        driver._create(cfg, f"sqlite:///{tmp_path / 's.db'}", ["maximize"])
    assert "cannot be opened" in raised.value.message and "run the same command again" in raised.value.hint


@pytest.mark.parametrize(("sets", "refused"), [
    (['study.metric="costs.params"', 'study.direction="minimize"'], "valid_acc rises as a trial gets better"),
    (['study.intermediate="train_loss"'], "train_loss falls as a trial gets better"),
])
def test_a_pruner_whose_per_epoch_value_runs_against_the_study_s_direction_is_refused(study_recipe, sets, refused):
    """Minimising params while pruning on valid_acc pruned the most accurate trials, silently."""
    path = study_recipe()
    args = [a for s in ['study.pruner="median"', *sets] for a in ("--set", s)]
    for command in (["validate", str(path)], ["study", str(path), "-q"]):
        result = CliRunner().invoke(main, [*command, *args])
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and refused in text and "it would prune the best trials" in text, text
    assert not (path.parent / "runs").exists()
    fine = study(path, *args, "--set", 'study.intermediate="train_loss"' if "minimize" in " ".join(sets)
                 else 'study.direction="minimize"', "--set", "search.epochs=1")
    assert "it would prune" not in fine.output


def test_a_resumed_study_that_prunes_on_another_value_is_refused(study_recipe):
    path = study_recipe()
    prune = ["--set", 'study.pruner="median"', "--set", "search.epochs=2"]
    assert study(path, *prune).exit_code == 0
    other = study(path, *prune, "--set", 'study.intermediate="train_acc"', "--trials", "2")
    text = " ".join(other.output.split())
    assert other.exit_code == 2 and "prunes on 'valid_acc', the recipe on 'train_acc'" in text, text
    assert study(path, *prune, "--trials", "2").exit_code == 0


def test_a_set_of_a_tuned_key_is_refused_not_dropped(study_recipe):
    path = study_recipe()
    for key in ("search.arch_optimizer.lr=0.5", "search.arch_optimizer={name='adam', lr=0.5}"):
        result = study(path, "--set", key)
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and "the study tunes search.arch_optimizer.lr (study.params)" in text, text
    assert not (path.parent / "runs").exists()
    # a table that does not hold the tuned key keeps it tuned: each trial sets lr over it
    other = CliRunner().invoke(main, ["validate", str(path), "--set", "search.arch_optimizer={name='adam', betas=[0.9, 0.99]}"])
    assert other.exit_code == 0, other.output


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "sqlite+pysqlite:///:memory:",
                                 "sqlite:///file:x?mode=memory&uri=true"])
def test_an_in_memory_storage_is_refused(study_recipe, url):
    """Each opening of it was a new, empty database: an internal error (Record does not exist)."""
    path = study_recipe()
    result = study(path, "--storage", url)
    assert result.exit_code == 2 and "is in memory" in result.output and "sqlite:///PATH" in result.output
    assert not (path.parent / "runs").exists()
    checked = CliRunner().invoke(main, ["validate", str(path), "--set", f"study.storage='{url}'"])  # it said ok
    assert checked.exit_code == 2 and "is in memory" in checked.output
    assert not __import__("automl_nas.study.storage", fromlist=["x"]).in_memory(f"sqlite:///{path.parent / 'm.db'}")


def test_a_continued_trial_reports_the_epochs_its_checkpoint_holds(tmp_path):
    """The continuation of a killed trial is a new Optuna trial: it reported only the epochs run
    after the resume, so the pruner saw a partial curve and the medians of the first epochs lost it."""
    import json

    from automl_nas.records.rundir import checkpoint_manifest
    from automl_nas.study.config import load_study_config
    from automl_nas.study.driver import _Driver

    cfg = load_study_config({"metric": "metrics.x", "pruner": "median", "sampler": "random", "params": {
        "search.arch_optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}},
        source="s.toml", recipe_name="s")
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.enqueue_trial({"search.arch_optimizer.lr": 0.01}, user_attrs={"continues": "trial-0000", "retry_of": 0})
    run = tmp_path / "trial-0000"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "valid_acc": 20.0 + e}) + "\n" for e in range(3)))
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    checkpoint_manifest(run / "checkpoints" / "last.pt").write_text(json.dumps({"epochs_done": 2}))  # epoch 2 redone
    driver = _Driver(cfg=cfg, study=optuna.load_study(study_name="s", storage=storage), study_dir=tmp_path,
                     recipe_path="s.toml", profile=None, overrides=[], seed=0, pm=None)
    spec = driver.ask()
    assert spec.run_dir == str(run)
    trial, reporter = driver.asked[spec.name]
    assert optuna.load_study(study_name="s", storage=storage).trials[0].intermediate_values == {0: 20.0, 1: 21.0}
    assert reporter.reported == [(0, 20.0), (1, 21.0)]


def test_a_moved_study_directory_goes_on_with_its_own_storage_and_shows_its_trials(study_recipe, tmp_path):
    """Moved, its study.json named the old study.db: the command was refused and its hint named a
    file that no longer existed; show lost every trial's parameters and values."""
    import json
    import shutil

    path = study_recipe()
    assert study(path, "--set", "search.epochs=1").exit_code == 0
    old = path.parent / "runs" / "studies" / "s"
    written = json.loads((old / "study.json").read_text())
    assert written.pop("storage_in_dir") == "study.db"
    (old / "study.json").write_text(json.dumps(written))  # as automl-nas wrote it before: the file moves too
    shutil.move(str(old), str(tmp_path / "moved"))
    (tmp_path / "elsewhere").mkdir()
    shutil.move(str(tmp_path / "moved"), str(tmp_path / "elsewhere" / "s"))
    again = study(path, "--set", "search.epochs=1", "--set", f"study.root='{tmp_path / 'elsewhere'}'", "--trials", "2")
    assert again.exit_code == 0, again.output
    here = tmp_path / "elsewhere" / "s"
    bound = json.loads((here / "study.json").read_text())
    assert bound["storage"] == f"sqlite:///{here / 'study.db'}" and bound["storage_in_dir"] == "study.db"
    assert len(optuna.load_study(study_name="s", storage=bound["storage"]).trials) == 2  # the first one kept
    shown = CliRunner().invoke(main, ["show", str(here), "--json"])
    rows = {r["name"]: r for r in json.loads(shown.stdout)["rows"]}
    assert set(rows) == {"trial-0000", "trial-0001"} and all(r["params"] and r["values"] for r in rows.values())
    assert all(b.startswith("trial-") for b in json.loads(shown.stdout)["best"])
    # the files and the summary the study writes name the trials where they are now, not the old place
    import csv

    assert all(b["run_dir"].startswith(str(here)) for b in json.loads((here / "best.json").read_text())["best"])
    assert all(b["run_dir"].startswith(str(here)) for b in json.loads(again.stdout)["best"])
    with open(here / "trials.csv", newline="") as fh:
        assert [r["user_attrs_run_dir"] for r in csv.DictReader(fh)] == [str(here / "trial-0000"), str(here / "trial-0001")]


def test_a_copied_study_directory_names_its_own_trials_not_the_original_s(study_recipe, tmp_path):
    """A copy goes on with its own study.db, but its best.json, trials.csv, summary and show named
    the original's trial directories (they still exist), which a later export would read."""
    import csv
    import json
    import shutil

    path = study_recipe()
    assert study(path, "--set", "search.epochs=1").exit_code == 0
    shutil.copytree(path.parent / "runs" / "studies", tmp_path / "copy")
    again = study(path, "--set", "search.epochs=1", "--set", f"study.root='{tmp_path / 'copy'}'", "--trials", "2")
    assert again.exit_code == 0, again.output
    here = tmp_path / "copy" / "s"
    assert all(b["run_dir"].startswith(str(here)) for b in json.loads((here / "best.json").read_text())["best"])
    assert all(b["run_dir"].startswith(str(here)) for b in json.loads(again.stdout)["best"])
    with open(here / "trials.csv", newline="") as fh:
        assert [r["user_attrs_run_dir"] for r in csv.DictReader(fh)] == [str(here / "trial-0000"), str(here / "trial-0001")]
    shown = json.loads(CliRunner().invoke(main, ["show", str(here), "--json"]).stdout)
    assert all(b.startswith("trial-") for b in shown["best"]), shown["best"]


@pytest.mark.parametrize(("pruner", "key"), [("successive_halving", "prune_warmup_epochs"),
                                              ("hyperband", "prune_startup_trials"), ("median", "prune_percentile")])
def test_a_pruner_option_the_pruner_does_not_read_is_refused(study_recipe, pruner, key):
    """successive_halving and hyperband ignored the warm-up epochs the help says are never pruned."""
    path = study_recipe()
    result = CliRunner().invoke(main, ["validate", str(path), "--set", f'study.pruner="{pruner}"', "--set", f"study.{key}=7"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and f"study.{key}: 7" in text and f"the {pruner} pruner does not use it" in text, text
    assert f"(set by --set study.{key}=7)" in text
    fine = CliRunner().invoke(main, ["validate", str(path), "--set", 'study.pruner="none"', "--set", f"study.{key}=7"])
    assert fine.exit_code == 0, fine.output
    shipped = Path(__file__).resolve().parents[1] / "recipes" / "studies" / "darts-arch.toml"  # its quick profile sets 2
    profiled = CliRunner().invoke(main, ["validate", str(shipped), "-p", "quick", "--set", 'study.pruner="hyperband"'])
    assert profiled.exit_code == 2 and "(set by [profile.quick])" in profiled.output, profiled.output


def test_a_refused_journal_study_leaves_no_new_journal_and_a_read_only_storage_says_so(study_recipe, monkeypatch):
    """A journal study refused at its start left the journal file its opening made; a read-only
    SQLite file was reported as Optuna's "exception is raised during the commit"."""
    path = study_recipe()
    journal = path.parent / "j.log"
    assert study(path, "--storage", f"journal:{journal}").exit_code == 0
    journal.rename(path.parent / "j.moved")  # the study directory's trials are now unknown to any storage here
    again = study(path, "--storage", f"journal:{journal}")
    assert again.exit_code == 5 and "holds trial directories that no trial" in again.output
    assert not journal.exists()

    from automl_nas.errors import RunError
    from automl_nas.study import driver
    from automl_nas.study.config import load_study_config

    def read_only(*args, **kwargs):
        try:
            raise RuntimeError("(sqlite3.OperationalError) attempt to write a readonly database")
        except RuntimeError as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc

    monkeypatch.setattr(optuna, "create_study", read_only)
    cfg = load_study_config({"metric": "metrics.x", "params": {"x": {"type": "int", "low": 0, "high": 3}}},
                            source="s.toml", recipe_name="s")
    with pytest.raises(RunError) as raised:
        driver._create(cfg, f"sqlite:///{path.parent / 'ro.db'}", ["maximize"])
    assert "attempt to write a readonly database" in raised.value.message and "read-only" in raised.value.hint


@pytest.mark.parametrize("seed, message", [(-1, "must be >= 0: -1"), (2**32, "must be <= 2147483647")])
def test_a_study_seed_out_of_range_is_refused_by_validate_and_leaves_no_storage(study_recipe, seed, message):
    """validate said ok; the study stopped with Optuna's internal error and left study.db."""
    path = study_recipe()
    result = CliRunner().invoke(main, ["validate", str(path), "--set", f"study.seed={seed}"])
    assert result.exit_code == 2 and f"study.seed: {message}" in result.output, result.output
    ran = study(path, "--set", f"study.seed={seed}")
    assert ran.exit_code == 2 and "internal error" not in ran.output
    assert not (path.parent / "runs").exists()


def test_parameter_ranges_that_clash_at_a_corner_of_their_box_are_refused_by_validate():
    """Each range was planned alone, at its ends: validate said ok, and every trial drawing a start
    below its end failed ("temperature must not rise")."""
    shipped = Path(__file__).resolve().parents[1] / "recipes" / "studies" / "gdas-temperature.toml"
    start = 'study.params."search.sampler.temperature.start"={type="float", low=0.5, high=0.6}'
    end = 'study.params."search.sampler.temperature.end"={type="float", low=0.7, high=1.0}'
    result = CliRunner().invoke(main, ["validate", str(shipped), "-p", "quick", "--set", start, "--set", end])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and ("study.params: search.sampler.temperature.start = 0.5, "
                                      "search.sampler.temperature.end = 0.7 together do not give a valid recipe") in text
    assert "temperature must not rise" in text and "narrow the ranges" in text


@pytest.mark.parametrize("override, said", [
    ("study.prune_warmup_epochs=1000", "study.prune_warmup_epochs = 1000 covers every epoch that could be pruned of this "
                                       "2-epoch search: the median pruner never acts"),
    ("study.prune_startup_trials=1000", "study.prune_startup_trials = 1000 is not below study.trials = 4"),
])
def test_validate_warns_of_a_pruner_that_could_never_act(override, said):
    shipped = Path(__file__).resolve().parents[1] / "recipes" / "studies" / "darts-arch.toml"
    result = CliRunner().invoke(main, ["validate", str(shipped), "-p", "quick", "--set", override])
    assert result.exit_code == 0 and f"automl: warning: {said}" in " ".join(result.output.split()), result.output
    assert "warning" not in CliRunner().invoke(main, ["validate", str(shipped), "-p", "quick"]).output


def test_a_full_disk_stops_the_study_at_its_first_trial_and_the_rerun_continues_that_trial(study_recipe, monkeypatch):
    """A trial that could not write its records failed like one with bad parameters: the driver
    asked new sets and spent them on the same full disk, and the rerun never ran the first set."""
    import errno
    import os

    from automl_nas.records import rundir

    path = study_recipe(trials=2)
    real, full = rundir.os.fsync, [True]

    def fsync(fd):  # the trial's checkpoint writes hit the full disk (the driver's small records fit)
        import traceback

        if full[0] and any(f.filename.endswith("engine/checkpoint.py") for f in traceback.extract_stack()):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(rundir.os, "fsync", fsync)
    stopped = study(path, "--set", "search.epochs=1")
    said = " ".join(stopped.output.split())
    assert stopped.exit_code == 5 and "trial trial-0000 could not write its records" in said, said
    assert "No space left on device" in said and "it continues trial-0000 from its checkpoint with its parameters" in said
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    first = optuna.load_study(study_name="s", storage=storage).trials
    assert len(first) == 2 and first[1].state.name == "WAITING"
    assert first[1].system_attrs["fixed_params"] == first[0].params  # queued again with its own set
    # show said the trial "stays failed" and that the same command runs new trials
    study_dir = path.parent / "runs" / "studies" / "s"
    shown_live = CliRunner().invoke(main, ["show", str(study_dir)]).output
    # as the report writes it once the disk has room (show reads it when the storage cannot be opened)
    optuna.load_study(study_name="s", storage=storage).trials_dataframe().to_csv(study_dir / "trials.csv", index=False)
    for shown in (shown_live, _shown_from_trials_csv(study_dir)):
        text = " ".join(shown.split())
        assert "trials 1 (1 queued)" in text and "stays failed" not in text, shown
        assert "the same `automl study` command continues trial-0000 from its checkpoint with its parameters" in text
    full[0] = False
    again = study(path, "--set", "search.epochs=1")
    assert again.exit_code == 0, again.output
    done = [t for t in optuna.load_study(study_name="s", storage=storage).trials if t.state.name == "COMPLETE"]
    assert done[0].params == first[0].params  # the set the full disk stopped, run first


def _shown_from_trials_csv(study_dir: Path) -> str:
    """``show`` as it reads a study whose storage it cannot open (trials.csv, written by the driver)."""
    from automl_nas.records import overview

    real = overview._stored
    try:
        overview._stored = lambda path: None
        return overview.overview(study_dir).render()
    finally:
        overview._stored = real
