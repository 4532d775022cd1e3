"""A quick run with run.trackers = ["mlflow"] writes a local MLflow file store in the run
directory (no server, no account) that MLflow's own client reads back with the values of
metrics.jsonl and arch_history.jsonl."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from automl_nas.records import RunDir
from automl_nas.testing import run_recipe
from automl_nas.testing.trackers import toy_tracker_recipe

TOY = toy_tracker_recipe("mlflow")


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        outcome = run_recipe(tmp_path_factory.mktemp("mlflow"), TOY)
    finally:
        mp.undo()
    mp = pytest.MonkeyPatch()
    rd = RunDir(outcome.run_dir)
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this reader; the tracker sets it for its own default
    client = MlflowClient(tracking_uri=(rd.path / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    yield outcome, rd, client, run
    mp.undo()


def test_the_local_run_folder_holds_the_run(mlflow_run):
    outcome, rd, client, run = mlflow_run
    assert outcome.result["status"] == "finished"
    assert (rd.path / "mlruns").is_dir() and run.info.status == "FINISHED"
    assert run.info.run_name == rd.path.name and run.data.tags["automl.status"] == "finished"
    assert run.data.params["search.epochs"] == "3" and run.data.params["search.sampler.name"] == "toy-softmax"
    assert run.data.tags["genotype"] == rd.read_result().genotype


def test_metrics_equal_the_epoch_records(mlflow_run):
    _, rd, client, run = mlflow_run
    epochs = rd.read_epochs()
    for key, field in (("acc/valid", "valid_acc"), ("loss/train", "train_loss"), ("lr", "lr")):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [0, 1, 2]
        assert [m.value for m in history] == pytest.approx([getattr(r, field) for r in epochs])
    history = rd.read_arch_history()
    group, matrix = next(iter(history[-1].probs.items()))
    probs = {k: v for k, v in run.data.metrics.items() if k.startswith(f"probs.{group}.")}
    assert sorted(probs.values()) == pytest.approx(sorted(p for row in matrix for p in row))


def test_alpha_images_and_genotype_texts_are_artifacts(mlflow_run):
    _, rd, client, run = mlflow_run
    texts = [f.path for f in client.list_artifacts(run.info.run_id, "genotype")]
    assert texts == [f"genotype/epoch-{e:03d}.txt" for e in range(3)]
    art = rd.path / "mlruns" / run.info.experiment_id / run.info.run_id / "artifacts"
    assert (art / "genotype" / "epoch-002.txt").read_text() == rd.read_epochs()[-1].genotype
    pngs = sorted(art.rglob("*.png"))
    group = next(iter(rd.read_arch_history()[-1].probs))
    assert len([p for p in pngs if f"alpha_{group}" in str(p) and "compressed" not in p.name]) == 3, pngs


def test_a_server_that_is_down_is_warned_about_at_once_and_the_search_goes_on(tmp_path, monkeypatch):
    """An unreachable tracking_uri held the run for 268 s in MLflow's HTTP retries before the warning."""
    import socket
    import warnings

    from automl_nas.tracking import TrackerWarning

    with socket.socket() as s:  # a port nothing listens on: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = run_recipe(tmp_path, TOY, overrides=[f'run.tracker_options.mlflow.tracking_uri="http://127.0.0.1:{port}/"'])
    assert outcome.result["status"] == "finished"
    (warned,) = [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]
    assert f"cannot reach the MLflow server at http://127.0.0.1:{port}/" in warned and "start()" in warned


def test_a_resumed_search_goes_on_in_its_mlflow_run(tmp_path, monkeypatch):
    """A second MLflow run was made, and the first was left RUNNING with the epochs before the stop."""
    from automl_nas.testing.trackers import stopped_then_resumed

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    run_dir = stopped_then_resumed(tmp_path, "mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "acc/valid")] == [0, 1, 2, 3]


@pytest.mark.parametrize("given", ["file", "path"])
def test_a_file_store_the_user_names_is_written(tmp_path, monkeypatch, given):
    """MLflow refused it ("maintenance mode") unless it was the default in the run directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    store = tmp_path / "store"
    uri = store.as_uri() if given == "file" else str(store)
    outcome = run_recipe(tmp_path, TOY, overrides=[f'run.tracker_options.mlflow.tracking_uri="{uri}"'])
    assert outcome.result["status"] == "finished"
    client = MlflowClient(tracking_uri=store.as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert len(client.get_metric_history(run.info.run_id, "acc/valid")) == 3
