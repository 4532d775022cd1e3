"""What Ray's own failures become (a worker, a node or the head lost; an actor a head cancels):
one paragraph naming the command that continues, never an internal error, nothing finished lost."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

import ray.exceptions

from automl_nas.cli import main

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"


def test_lost_to_ray_tells_ray_s_failures_from_the_work_s_errors():
    from automl_nas.execution.cluster import lost_to_ray

    assert lost_to_ray(ray.exceptions.WorkerCrashedError()) and lost_to_ray(ray.exceptions.NodeDiedError("gone"))
    assert lost_to_ray(ray.exceptions.ActorDiedError())
    wrapped = ray.exceptions.RayTaskError("f", "traceback", ValueError("a plugin's bug"))
    assert not lost_to_ray(wrapped) and not lost_to_ray(ValueError("x")) and not lost_to_ray(KeyboardInterrupt())


def test_a_search_that_loses_its_worker_keeps_its_queries_and_names_resume(tmp_path, monkeypatch):
    from automl_nas.study import blackbox

    real, calls = blackbox._score, []

    def worker_crashed_at_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise ray.exceptions.WorkerCrashedError()
        return real(*args, **kwargs)

    monkeypatch.setattr(blackbox, "_score", worker_crashed_at_the_fourth)
    run_dir = tmp_path / "s"
    out = CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(run_dir)])
    assert out.exit_code == 5, out.output
    assert "search stopped: Ray lost a worker, a node or its head (WorkerCrashedError: The worker died" in out.stderr
    assert "after 3 queries" in out.stderr and f"continue with `automl search --resume {run_dir}`" in out.stderr
    monkeypatch.undo()
    resumed = CliRunner().invoke(main, ["search", "--resume", str(run_dir), "-q"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["queries"] == 20


def test_a_study_that_loses_its_head_requeues_the_running_trial(make_toy_recipe, monkeypatch):
    from automl_nas.execution import executor

    tail = ('\n[study]\nname = "s"\ntrials = 2\npruner = "none"\nsampler = "random"\nmetric = "metrics.convs"\n'
            '[study.params]\n"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }\n')
    path = make_toy_recipe(count=32, tail=tail)
    monkeypatch.setattr(executor.LocalExecutor, "wait",
                        lambda self: (_ for _ in ()).throw(ray.exceptions.NodeDiedError("the head node died")))
    out = CliRunner().invoke(main, ["study", str(path), "-q"])
    assert out.exit_code == 5, out.output
    assert "study 's' stopped: Ray lost a worker, a node or its head (NodeDiedError: the head node died)" in out.output
    assert "run the same `automl study` command again once the cluster is back" in out.output
    storage = f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}"
    assert [t.state.name for t in optuna.load_study(study_name="s", storage=storage).trials] == ["FAIL", "WAITING"]


@pytest.mark.parametrize("presented, advice", [(True, "set RAY_AUTH_MODE=disabled for automl"),
                                               (False, "check the cluster with `ray status`")])
def test_an_actor_the_head_cancels_says_whether_a_token_was_presented(monkeypatch, tmp_path, presented, advice):
    from automl_nas.errors import RunError
    from automl_nas.execution import channel, cluster

    monkeypatch.setattr(cluster, "_PRESENTED_TOKEN", presented)
    monkeypatch.setattr(cluster, "connect", lambda *a, **k: False)

    def cancelled():
        raise ray.exceptions.ActorDiedError()

    monkeypatch.setattr(channel, "start_channel", cancelled)
    with pytest.raises(RunError, match="could not start this command's first actor") as caught:
        with cluster.RaySession(batch_dir=tmp_path, address="10.0.0.5:6379"):
            pass
    assert advice in caught.value.hint


def test_a_connection_refused_for_its_token_names_the_token_even_when_ray_only_says_failed():
    from automl_nas.execution.cluster import _connect_hint

    failed = ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")
    said = "gcs_client.cc:210: Failed to get cluster ID from GCS server: Unauthenticated: RPC error: InvalidAuthToken"
    hint = _connect_hint(failed, said)  # the reason is only in what Ray's core logged while joining
    assert "RAY_AUTH_TOKEN=" in hint and "ray get-auth-token" in hint
    assert "token" not in _connect_hint(failed, "") and "AUTOML_NAS_RAY_OUTPUT=1" in _connect_hint(failed, "")


def test_ray_s_own_failure_is_summarised_by_its_first_line_a_task_s_by_its_last():
    from automl_nas.execution.cluster import short_error

    oom = ray.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory.\n"
                                          "Memory on the node (IP: 10.0.0.5) was 7.5GB / 7.7GB (0.97).\n"
                                          "Refer to the documentation on how to address the out of memory issue: "
                                          "https://docs.ray.io/en/latest/ray-core/scheduling/ray-oom-prevention.html")
    assert short_error(oom) == "Task was killed due to the node running low on memory."
    task = ray.exceptions.RayTaskError("f", "traceback", ValueError("Traceback ...\nValueError: the real message"))
    assert short_error(task) == "ValueError: the real message"
