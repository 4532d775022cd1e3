"""Where a trial attempt runs (:class:`~automl_nas.records.trial.Placement`), and its record
in the run's ``env.json`` (issue 14: a cluster run says which node ran each trial)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from automl_nas.records.trial import Placement

__all__ = ["local_placement", "ray_placement", "record_placement"]


def local_placement() -> Placement:
    """An attempt run in this process by the local executor."""
    return Placement(name="local", host=socket.gethostname())


def ray_placement() -> Placement:
    """The attempt running in this Ray worker: cluster address, node and reserved resources."""
    import ray

    ctx = ray.get_runtime_context()
    resources = {k: float(v) for k, v in sorted(ctx.get_assigned_resources().items())}
    gpus = ctx.get_accelerator_ids().get("GPU", [])
    return Placement(name="ray", host=socket.gethostname(), address=ctx.gcs_address or "", node_id=ctx.get_node_id(),
                     node_ip=ray.util.get_node_ip_address(), resources=resources, gpu_ids=gpus)


def record_placement(run_dir: str | Path, placement: Placement) -> None:
    """Add ``"executor": {...}`` to ``run_dir/env.json`` (the last attempt's placement; every
    attempt's node is also in the attempt log). No-op when the run never wrote ``env.json``."""
    from automl_nas.records.rundir import atomic_write_json

    path = Path(run_dir) / "env.json"
    try:
        env = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    atomic_write_json(path, {**env, "executor": placement.record()})
