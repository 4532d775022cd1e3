"""``automl validate --build``: what only the built components and the loaded data can refuse
(`run` refuses it before any directory) is found without running, and nothing is written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from automl_nas.cli import main
from tests.conftest import REPO

NO_TASK_LOSS = 'search.objectives=[{name="snas_resource"}]'


def _validate(*args: str):
    return CliRunner().invoke(main, ["validate", *args])


@pytest.mark.parametrize("recipe, override, message", [
    ("gnn-darts", "run.channels_last=true", "data set 'sbm' is a graph, not images"),
    ("snas", NO_TASK_LOSS, "no objective contributes to the weights step"),
    ("gnn-rea", 'blackbox.metric="latncy"', "reports no metric 'latncy'; did you mean 'latency'?"),
])
def test_build_finds_what_only_a_built_component_refuses_and_writes_nothing(tmp_path, monkeypatch, recipe, override,
                                                                            message):
    monkeypatch.chdir(tmp_path)
    path = str(REPO / "recipes" / f"{recipe}.toml")
    plain = _validate(path, "-p", "quick", "--set", override)
    assert plain.exit_code == 0, plain.output  # without --build: builds nothing, imports no torch
    built = _validate(path, "-p", "quick", "--set", override, "--build")
    assert built.exit_code == 2 and message in " ".join(built.output.split()), built.output
    assert "Traceback" not in built.output
    assert list(tmp_path.iterdir()) == []  # no run directory, no runs/


def test_build_of_a_sound_recipe_says_it_was_built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = _validate(str(REPO / "recipes" / "snas.toml"), "-p", "quick", "--build")
    assert done.exit_code == 0 and "ok (snas on nb201" in done.output and "built as the run builds it" in done.output
    assert list(tmp_path.iterdir()) == []


def test_build_checks_a_ranked_trial_s_batch_split_and_says_when_it_built_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(REPO / "recipes" / "snas.toml")
    split = _validate(path, "-p", "quick", "--build", "--set", "executor.ranks=2", "--set", "data.batch_size=7")
    assert split.exit_code == 2 and "data.batch_size = 7 does not split into 2 equal parts" in split.output
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = _validate(path, "-p", "quick", "--build", "--set", "run.device='cuda'")
    assert cpu.exit_code == 0 and "built on the CPU, as this machine has no cuda" in cpu.output, cpu.output
