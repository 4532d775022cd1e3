"""Records are never kept where Ray deletes them: its copy of a job's working directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from automl_nas.errors import RunError

__all__ = ["refuse_job_copy"]


def refuse_job_copy(path: str | Path, *, key: str) -> None:
    """Refuse to keep records under Ray's copy of a job's working directory.

    Inside ``ray job submit --working-dir``, the driver starts in Ray's copy of that directory
    (``.../runtime_resources/working_dir_files/_ray_pkg_<hash>``). Ray garbage-collects the copy
    once no job uses it, so records kept there are lost. ``key`` names what set ``path``
    (``--run-dir or run.root``)."""
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}").get("runtime_env") or {}
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):  # a link that loops: the run directory's own checks name it
        return
    if job.get("working_dir") and any(part.startswith("_ray_pkg_") for part in resolved.parts):
        raise RunError(f"{key} {path} lies in Ray's copy of the job's working directory ({resolved}), which Ray "
                       f"deletes once no job uses it: the records would be lost",
                       hint=f"pass {key.split(' or ')[0]} on a file system that outlives the job, e.g. /data/<name>")
