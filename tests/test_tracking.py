"""The tracking seam (issue 19): run.trackers selects trackers by name (did-you-mean like any
other name), an installed but unselected tracker does nothing, and a tracker that fails warns
once and never stops the search."""

from __future__ import annotations

import warnings

import pytest

from automl_nas.errors import RecipeError
from automl_nas.records import RunDir
from automl_nas.testing import run_recipe
from automl_nas.testing.trackers import RaisingTracker, RecordingTracker, tracker_plugin
from automl_nas.tracking import TrackerWarning
from tests.conftest import TOY_RECIPE

TOY = TOY_RECIPE.format(data_extra="")
FAST = ["search.steps_per_epoch=2", "search.epochs=2"]


@pytest.fixture(autouse=True)
def _fresh_counters():
    RecordingTracker.calls.clear()
    RecordingTracker.built = 0
    RaisingTracker.calls.clear()


def _run(tmp_path, trackers, *extra):
    names = ", ".join(f'"{n}"' for n in trackers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run_recipe(tmp_path, TOY, plugins=[(tracker_plugin(), "test-trackers")],
                             overrides=[*FAST, f"run.trackers=[{names}]", *extra])
    return outcome, [w for w in caught if issubclass(w.category, TrackerWarning)]


def test_hook_automl_register_trackers(registry):
    assert {"tensorboard", "wandb", "mlflow"} <= set(registry.names("tracker"))
    comp = registry.get("tracker", "tensorboard")
    assert comp.kind == "tracker" and comp.dist.startswith("automl-nas-track-tensorboard")


def test_a_selected_tracker_sees_the_run_and_an_unselected_one_does_nothing(tmp_path):
    outcome, warned = _run(tmp_path, ["recording"])
    assert outcome.result["status"] == "finished" and not warned
    methods = [m for m, _ in RecordingTracker.calls]
    assert methods == ["start", "log_step", "log_step", "log_epoch", "log_step", "log_step", "log_epoch", "finish"]
    views = [arg for m, arg in RecordingTracker.calls if m == "log_epoch"]
    on_disk = RunDir(outcome.run_dir).read_epochs()
    history = RunDir(outcome.run_dir).read_arch_history()
    assert [v.record for v in views] == on_disk
    assert [v.arch for v in views] == history and all(v.arch.probs for v in views)
    assert views[-1].scalars()["acc/valid"] == pytest.approx(on_disk[-1].valid_acc)
    group, matrix = next(iter(history[-1].probs.items()))
    probs = views[-1].edge_probs()
    assert len(probs) == sum(len(m) * len(m[0]) for m in history[-1].probs.values())
    assert sorted(probs.values())[-1] == pytest.approx(max(max(row) for m in history[-1].probs.values() for row in m))

    RecordingTracker.calls.clear()
    (tmp_path / "unselected").mkdir()
    outcome, _ = _run(tmp_path / "unselected", [])
    assert outcome.result["status"] == "finished"
    assert RecordingTracker.calls == [] and RecordingTracker.built == 1  # the first run's only


@pytest.mark.parametrize("name, where", [("raising", "log_epoch"), ("raising-start", "start")])
def test_a_raising_tracker_warns_once_and_the_run_finishes(tmp_path, name, where):
    outcome, warned = _run(tmp_path, [name, "recording"])
    assert outcome.result["status"] == "finished" and len(outcome.metrics) == 2
    assert len(warned) == 1, [str(w.message) for w in warned]
    text = str(warned[0].message)
    assert f"tracker {name!r}" in text and f"{where}()" in text and "ConnectionError: no network" in text
    assert "run.trackers" in text and "search goes on" in text
    assert RaisingTracker.calls[-2:] == [where, "abort"]  # released, then switched off
    assert [m for m, _ in RecordingTracker.calls][-1] == "finish"  # the other tracker kept going


def test_a_tracker_whose_package_is_missing_warns_once_and_the_run_finishes(tmp_path):
    outcome, warned = _run(tmp_path, ["missing"])
    assert outcome.result["status"] == "finished"
    assert len(warned) == 1 and "being built" in str(warned[0].message)
    assert "automl_nas_no_such_tracker" in str(warned[0].message)


def test_an_unknown_tracker_name_is_a_recipe_error_with_did_you_mean(tmp_path):
    with pytest.raises(RecipeError) as info:
        run_recipe(tmp_path, TOY, overrides=[*FAST, 'run.trackers=["tensorbord"]'])
    msg = str(info.value)
    assert "run.trackers[0]: unknown" in msg and "unknown tracker 'tensorbord'" in msg and "did you mean 'tensorboard'" in msg
    assert "recipe.toml" in msg


def test_automl_run_tracker_flag_selects_the_tracker(toy_recipe):
    from click.testing import CliRunner

    from automl_nas.cli import main

    args = ["run", str(toy_recipe), "-q", "--set", "search.steps_per_epoch=2", "--set", "search.epochs=1"]
    res = CliRunner().invoke(main, [*args, "--tracker", "tensorboard"])
    assert res.exit_code == 0, res.output
    (run_dir,) = (toy_recipe.parent / "runs").iterdir()
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert "tensorboard" in (run_dir / "recipe.toml").read_text()

    res = CliRunner().invoke(main, [*args, "--tracker", "tensorbord"])
    assert res.exit_code == 2 and "did you mean 'tensorboard'" in res.output


def test_a_tracker_listed_twice_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError) as info:
        run_recipe(tmp_path, TOY, overrides=[*FAST, 'run.trackers=["tensorboard", "tensorboard"]'])
    assert "run.trackers: 'tensorboard' listed more than once" in str(info.value)


def _installed_trackers() -> list[str]:
    from automl_nas.session import open_session

    return open_session().registry.names("tracker")


@pytest.mark.parametrize("name", _installed_trackers())
def test_every_installed_tracker_feeds_a_run_without_a_warning(tmp_path, monkeypatch, name):
    """A new tracker plugin is exercised as soon as it registers (offline: no account, no network)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run_recipe(tmp_path, TOY, overrides=[*FAST, f'run.trackers=["{name}"]'])
    problems = [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]
    assert outcome.result["status"] == "finished" and not problems


def test_tracker_options_reach_the_tracker_and_typos_are_refused(tmp_path):
    outcome, warned = _run(tmp_path, ["raising"], 'run.tracker_options.raising={where="finish"}')
    assert outcome.result["status"] == "finished"
    assert len(warned) == 1 and "finish()" in str(warned[0].message)
    assert RaisingTracker.calls[-2:] == ["finish", "abort"] and RaisingTracker.calls.count("log_epoch") == 2

    with pytest.raises(RecipeError) as info:
        _run(tmp_path, ["raising"], 'run.tracker_options.raising={wher="finish"}')
    assert "run.tracker_options.raising.wher: unknown key; did you mean 'where'?" in str(info.value)
    with pytest.raises(RecipeError) as info:
        _run(tmp_path, ["recording"], 'run.tracker_options.raising={where="finish"}')
    assert "run.tracker_options: options for 'raising', which run.trackers does not select" in str(info.value)


def test_the_command_line_prints_a_tracker_s_failure_once(make_toy_recipe):
    """The log line and Python's own copy of the warning (file:line, then the source line) printed
    the same paragraph twice."""
    import subprocess
    import sys

    recipe = make_toy_recipe(count=32)
    code = ("import automl_nas.session as s; from automl_nas.testing.trackers import tracker_plugin; "
            "o = s.open_session; s.open_session = lambda *a, **k: o([(tracker_plugin(), 't')]); "
            "from automl_nas.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, "run", str(recipe), "-q", "--tracker", "raising"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("tracker 'raising'") == 1, out.stderr
    assert "TrackerWarning" not in out.stderr


def test_tracker_on_the_command_line_switches_trackers_without_editing_the_recipe(make_toy_recipe, tmp_path):
    """`--tracker tensorboard` on a recipe with [run.tracker_options.wandb] was refused as "options
    for 'wandb', which run.trackers does not select"; the recipe's own selection still checks them."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = make_toy_recipe(count=32, tail='trackers = ["wandb"]\n[run.tracker_options.wandb]\nproject = "nas"\n')
    out = CliRunner().invoke(main, ["run", str(recipe), "-q", "--tracker", "tensorboard", "--set", "search.epochs=1",
                                    "--run-dir", str(tmp_path / "switched")])
    assert out.exit_code == 0, out.output
    assert list((tmp_path / "switched").rglob("events.out.tfevents*"))
    kept = CliRunner().invoke(main, ["validate", str(recipe), "--set", 'run.trackers=["tensorboard"]'])
    assert kept.exit_code == 2 and "options for 'wandb', which run.trackers does not select" in kept.output


def test_tracker_on_the_command_line_keeps_refusing_options_for_no_installed_tracker(make_toy_recipe, tmp_path):
    """Every options table --tracker did not select was emptied, a misspelt one too: its options
    were dropped in silence and the run went on without them."""
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = make_toy_recipe(count=32)
    out = CliRunner().invoke(main, ["run", str(recipe), "-q", "--tracker", "tensorboard", "--set",
                                    "run.tracker_options.tensorbord.step_every=5", "--run-dir", str(tmp_path / "typo")])
    assert out.exit_code == 2 and "options for 'tensorbord', which run.trackers does not select" in out.output
    assert not (tmp_path / "typo").exists()
    # a shared recipe's options for a tracker not installed here are no typo: switching away from it still works
    other = make_toy_recipe(count=32, tail='trackers = ["comet"]\n[run.tracker_options.comet]\nworkspace = "lab"\n')
    out = CliRunner().invoke(main, ["run", str(other), "-q", "--tracker", "tensorboard", "--set", "search.epochs=1",
                                    "--run-dir", str(tmp_path / "switched")])
    assert out.exit_code == 0, out.output
