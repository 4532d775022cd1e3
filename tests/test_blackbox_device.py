"""Issue 15: a black-box search evaluates on the recipe's ``run.device`` (until now every
evaluation ran on the CPU, GPU or not), on Ray on the GPU its evaluation reserved; ``[run]``
and ``[executor]`` are checked like any other table."""

from __future__ import annotations

import contextlib

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from automl_nas.cli import main
from automl_nas.errors import RecipeError, RunError
from automl_nas.recipe.model import ExecutorConfig
from automl_nas.study.blackbox import evaluation_device
from automl_nas.study.config import BlackboxRunConfig, load_blackbox_config

LOOKUP = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"


def _cfg(parallel: int):
    return load_blackbox_config({"proposer": "random", "parallel": parallel}, source="r.toml")


@pytest.mark.parametrize("gpu", [True, False], ids=["gpu", "no-gpu"])
def test_here_auto_is_cuda_where_a_gpu_is_visible(monkeypatch, gpu):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert evaluation_device(BlackboxRunConfig(), _cfg(1), ExecutorConfig()) == ("cuda" if gpu else "cpu")
    assert evaluation_device(BlackboxRunConfig(device="cpu"), _cfg(1), ExecutorConfig()) == "cpu"


def test_here_a_cuda_device_the_machine_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RunError, match="no CUDA device is available"):
        evaluation_device(BlackboxRunConfig(device="cuda"), _cfg(1), ExecutorConfig())


def test_on_ray_the_device_follows_each_evaluation_s_reservation(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU driver: Ray decides, not it
    assert evaluation_device(BlackboxRunConfig(), _cfg(4), ExecutorConfig(gpus=0.25)) == "cuda"
    assert evaluation_device(BlackboxRunConfig(), _cfg(4), ExecutorConfig()) == "cpu"
    with pytest.raises(RecipeError, match="executor.gpus = 0: Ray reserves no GPU for the evaluation"):
        evaluation_device(BlackboxRunConfig(device="cuda"), _cfg(4), ExecutorConfig())


def test_every_evaluation_gets_the_device_and_the_result_records_it(monkeypatch, tmp_path):
    import automl_nas.study.blackbox as blackbox

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # run.device = "auto" on a GPU machine
    seen = []
    score = blackbox._score

    def spy(evaluator, genotype, ctx, names):
        seen.append(ctx.device)
        return score(evaluator, genotype, ctx, names)

    monkeypatch.setattr(blackbox, "_score", spy)
    out = CliRunner().invoke(main, ["search", str(LOOKUP), "-p", "quick", "-q", "--run-dir", str(tmp_path / "s")])
    assert out.exit_code == 0, out.output
    assert seen == ["cuda"] * 20  # the table lookup ignores it; a training evaluator trains there
    assert json.loads((tmp_path / "s" / "result.json").read_text())["device"] == "cuda"


@pytest.mark.parametrize("override, message", [
    ("run.devcie='cpu'", "run.devcie: unknown key; did you mean 'device'?"),
    ("run.device='gpu'", "run.device: must be auto, cpu, mps, cuda or cuda:N, got 'gpu'"),
    # dropped until now: evaluations silently ran without the GPU the user meant to reserve
    ("executor.gpu=1", "executor.gpu: unknown key; did you mean 'gpus'?"),
    ("executor.ranks=2", "executor.ranks: not used by `automl search`"),
])
def test_a_bad_run_or_executor_table_is_refused_before_any_evaluation(tmp_path, override, message):
    for command in (["validate", str(LOOKUP)], ["search", str(LOOKUP), "-p", "quick", "--run-dir", str(tmp_path / "s")]):
        out = CliRunner().invoke(main, [*command, "--set", override])
        assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output
    assert not (tmp_path / "s").exists()


def test_a_missing_gpu_is_refused_before_the_run_directory_is_made(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = CliRunner().invoke(main, ["search", str(LOOKUP), "-p", "quick", "--set", "run.device='cuda'",
                                    "--run-dir", str(tmp_path / "s")])
    assert out.exit_code != 0 and "run.device = 'cuda' but no CUDA device is available" in out.output
    assert "--set run.device=cpu" in out.output and not (tmp_path / "s").exists()


@pytest.mark.parametrize("executor, on_ray", [
    ({}, False),
    ({"name": "ray"}, True),  # ignored until now: one evaluation at a time ran in the driver
    ({"address": "10.0.0.1:6379"}, True),
], ids=["local", "name-ray", "address"])
def test_a_recipe_that_names_ray_evaluates_on_ray_one_at_a_time_too(monkeypatch, tmp_path, executor, on_ray):
    import automl_nas.study.blackbox as blackbox

    assert ExecutorConfig().uses_ray(4)  # several at once: always Ray
    assert ExecutorConfig(**executor).uses_ray(1) is on_ray
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU driver: Ray's reservation decides
    device = evaluation_device(BlackboxRunConfig(), _cfg(1), ExecutorConfig(**executor, gpus=0.5))
    assert device == "cuda"
    assert evaluation_device(BlackboxRunConfig(), _cfg(1), ExecutorConfig(**executor)) == ("cpu" if on_ray else "cuda")

    ray_calls = []
    monkeypatch.setattr(blackbox, "_run_ray", lambda loop, *args, **kwargs: ray_calls.append(args[-2:]) or None)
    from automl_nas.execution import cluster

    monkeypatch.setattr(cluster, "joined_cluster",  # no head at 10.0.0.1: only the choice is tested
                        lambda address, root, **options: contextlib.nullcontext())
    overrides = [f"--set=executor.{k}={v!r}" for k, v in executor.items()]
    out = CliRunner().invoke(main, ["search", str(LOOKUP), "-p", "quick", "-q", "--run-dir", str(tmp_path / "s"),
                                    "--set", "run.device='cpu'", *overrides])
    assert out.exit_code == 0, out.output
    assert ray_calls == ([(1, ExecutorConfig(**executor))] if on_ray else [])
