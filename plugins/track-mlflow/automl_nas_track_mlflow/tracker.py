"""The MLflow tracker: one MLflow run per search run, through ``MlflowClient`` (no global
active run, so trials in one process never share state).

Where: ``tracking_uri`` if set, else ``$MLFLOW_TRACKING_URI``, else a file store in
``<run dir>/mlruns`` (``mlflow ui --backend-store-uri <run dir>/mlruns`` shows it, offline).
What: the flattened recipe as params; every scalar of :meth:`automl_nas.api.EpochView.scalars`
and every op probability (``probs.<group>.<edge>/<op>``) at step = epoch; the α matrix per
group as a time-stepped image (``alpha_<group>``); the genotype per epoch as
``genotype/epoch-NNN.txt`` and as the tag ``genotype``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from automl_nas.api import EpochView, Tracker, logged_step, step_scalars
from automl_nas.tracking.images import alpha_image, flat_recipe

from automl_nas_track_mlflow.hooks import MlflowConfig

if TYPE_CHECKING:
    from automl_nas.api import GroupSpec, RunContext
    from automl_nas.records import RunResult

__all__ = ["MlflowTracker"]

_STATUS = {"finished": "FINISHED", "interrupted": "KILLED"}


class MlflowTracker(Tracker):
    name = "mlflow"

    def __init__(self, config: MlflowConfig | None = None) -> None:
        self.config = config or MlflowConfig()
        self.client = None
        self.run_id = ""
        self.steps = 0

    def start(self, run: RunContext, groups: tuple[GroupSpec, ...]) -> None:
        # A tracker meant to work offline makes no usage-telemetry calls unless the user asked for them.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        # MLflow's own default (7 retries with exponential backoff, 120 s per request) held the
        # search for minutes per call when the server was down; a tracker must not cost the search that.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = self.config.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = (Path(run.run_dir.path) / "mlruns").resolve().as_uri()
        else:
            _reachable(uri)
        if _file_store(uri):
            # MLflow >= 3.x refuses its file store unless opted in ("maintenance mode"); a folder in
            # the run directory is what issue 19 asks for (offline, no server, travels with the run),
            # and one the user names (file:, a plain path) was refused outright.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        name = self.config.experiment or run.recipe.name
        found = self.client.get_experiment_by_name(name)
        experiment = found.experiment_id if found is not None else self.client.create_experiment(name)
        self.steps = run.steps_per_epoch
        self.run_id = _continued(self.client, run, uri)
        if self.run_id:  # a resumed search goes on in its MLflow run (a second one was made, the first left RUNNING)
            self.client.update_run(self.run_id, status="RUNNING")
            return
        tags = {"automl.run_dir": str(run.run_dir.path), "automl.sampler": run.sampler_name, "automl.space": run.space_name}
        self.run_id = self.client.create_run(experiment, run_name=Path(run.run_dir.path).name, tags=tags).info.run_id
        _remember(run, uri, self.run_id)
        params = [Param(k, str(v)[:6000]) for k, v in flat_recipe(run.recipe).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            self.client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def log_step(self, run: RunContext, epoch: int, step: int, metrics: dict[str, float]) -> None:
        global_step = logged_step(self.steps, epoch, step, self.config.step_every)
        if global_step is not None:
            self._metrics(step_scalars(metrics), global_step)

    def log_epoch(self, run: RunContext, view: EpochView) -> None:
        self._metrics({**view.scalars(), **view.edge_probs()}, view.epoch)
        for group, matrix in (view.arch.probs if view.arch else {}).items():
            if matrix:
                self.client.log_image(self.run_id, alpha_image(matrix), key=f"alpha_{group}", step=view.epoch)
        self.client.log_text(self.run_id, view.record.genotype, f"genotype/epoch-{view.epoch:03d}.txt")
        self.client.set_tag(self.run_id, "genotype", view.record.genotype)

    def finish(self, run: RunContext, record: RunResult) -> None:
        if self.client is None:
            return
        self.client.set_tag(self.run_id, "automl.status", record.status)
        self.client.set_terminated(self.run_id, status=_STATUS.get(record.status, "FAILED"))
        self.client = None


#: Which MLflow run holds a search run, in the search's own directory (for its resume).
RUN_FILE = "mlflow-run.json"


def _remember(run: RunContext, uri: str, run_id: str) -> None:
    from automl_nas.records.rundir import atomic_write_json

    atomic_write_json(Path(run.run_dir.path) / RUN_FILE, {"tracking_uri": uri, "run_id": run_id})


def _continued(client, run: RunContext, uri: str) -> str:
    """The MLflow run a resumed search started in, at the same tracking URI; ``""`` for a new one."""
    import json

    if not run.start_epoch:
        return ""
    try:
        known = json.loads((Path(run.run_dir.path) / RUN_FILE).read_text(encoding="utf-8"))
        if known.get("tracking_uri") != uri:
            return ""
        return client.get_run(known["run_id"]).info.run_id
    except Exception:  # noqa: BLE001 - no record, or the run is gone from the store: a new run
        return ""


def _file_store(uri: str) -> bool:
    """Whether ``uri`` names MLflow's file store: ``file:...`` or a plain path (no scheme)."""
    from urllib.parse import urlsplit

    return urlsplit(uri).scheme in ("", "file")


def _reachable(uri: str, timeout: float = 5.0) -> None:
    """A server URI that does not accept a TCP connection within ``timeout`` seconds is refused
    here, at once (the guard then warns once and the search goes on without the tracker)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the MLflow server at {uri} ({exc.strerror or exc})") from None
