"""Per-epoch checkpoints of a retraining, one folder per (genotype, settings, data, seed).

Layout under the run directory::

    retrain/<key>/
      job.json        what is trained: genotype, space options, settings, data, seed (the key's source)
      last.pt         weights, optimiser, RNG, epoch history (written atomically after every epoch)
      epochs.jsonl    one line per finished epoch
      result.json     the evaluator's metrics, once the test pass is done: the same job again is
                      answered from it (and last.pt, then without its optimiser state, kept only
                      with ``keep_weights``)

``key`` is a hash of ``job.json``: the same job resumes where it stopped, another job
(different epochs, genotype or data) gets its own folder and never overwrites this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterator

import torch

from automl_nas.errors import RunError
from automl_nas.records import atomic_write_bytes, atomic_write_json
from automl_nas.records.strict_json import dumps as strict_dumps

__all__ = ["CheckpointDir", "job_key"]

# A full disk mid-retraining: the same `automl eval` (or a search's final scoring, retried with
# `automl eval RUN_DIR`) continues from the epoch checkpoint written before.
_WRITE_HINT = ("free disk space (or pass a writable --work-dir DIR to automl eval), then run the same command "
               "again: retraining continues from its last checkpoint")


def job_key(job: dict[str, Any]) -> str:
    """Stable 12-hex-digit key of a JSON-able job description."""
    return hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest()[:12]


class CheckpointDir:
    """The folder of one retraining job; ``None`` run directory means no checkpoints."""

    def __init__(self, run_dir: str | Path, job: dict[str, Any]) -> None:
        self.path = Path(run_dir) / "retrain" / job_key(job)
        self.job = job

    @property
    def state_file(self) -> Path:
        return self.path / "last.pt"

    def save(self, state: dict[str, Any]) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"retrain checkpoint {self.state_file} cannot be written: {exc.strerror or exc}",
                           hint="give the run a writable directory (automl eval --work-dir DIR)") from None
        if not (self.path / "job.json").exists():
            atomic_write_json(self.path / "job.json", self.job, hint=_WRITE_HINT)
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.state_file, buf.getvalue(), hint=_WRITE_HINT)
        lines = "".join(strict_dumps(rec) + "\n" for rec in state["history"])  # a NaN loss is null, as in metrics.jsonl
        atomic_write_bytes(self.path / "epochs.jsonl", lines.encode(), hint=_WRITE_HINT)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """This job's folder, locked while it trains: two evaluations of one job at once trained it
        twice in one folder (one failed at a checkpoint write); the second is refused, naming the
        first. A folder this left empty is removed."""
        from automl_nas.records.lock import directory_lock
        from automl_nas.records.rundir import missing_dirs, remove_empty_dirs

        created = missing_dirs(self.path)  # the job's folder, and retrain/ above it
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"retrain checkpoint folder {self.path} cannot be created: {exc.strerror or exc}",
                           hint="give the run a writable directory (automl eval --work-dir DIR)") from None
        try:
            with directory_lock(self.path, what="retraining of this job"):
                yield
        finally:
            remove_empty_dirs(created)  # an evaluation stopped in its first epoch leaves no empty folder

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    def result(self, metrics: tuple[str, ...] = ()) -> dict[str, float] | None:
        """The metrics of this job's finished retraining, or ``None`` (then it is trained, or
        resumed for its test pass, again): none yet, cut short, or without one of ``metrics``
        or a number for ``test_acc`` (an edited file was a plugin error that did not name it)."""
        try:
            result = json.loads(self.result_file.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(result, dict) or not set(metrics) <= result.keys() or \
                not isinstance(result.get("test_acc"), (int, float)) or isinstance(result.get("test_acc"), bool):
            return None
        return {k: float("nan") if v is None else v for k, v in result.items()}  # strict JSON wrote a NaN loss as null

    def finish(self, metrics: dict[str, float], *, keep_weights: bool) -> None:
        """Record the metrics; keep the weights without the optimiser state (a finished job
        never steps again: half the file for SGD with momentum), or delete them."""
        if keep_weights:
            state = torch.load(self.state_file, map_location="cpu", weights_only=True)
            state.pop("optimizer", None)
            buf = io.BytesIO()
            torch.save(state, buf)
            atomic_write_bytes(self.state_file, buf.getvalue(), hint=_WRITE_HINT)
        # the metrics before the weights go: a job whose weights are gone is answered from them
        atomic_write_json(self.result_file, metrics, hint=_WRITE_HINT)
        if not keep_weights:
            self.state_file.unlink(missing_ok=True)

    def load(self, device: str) -> dict[str, Any] | None:
        """The saved state, or ``None`` when this job has not finished an epoch yet."""
        if not self.state_file.exists():
            return None
        try:
            # Tensors, numbers and strings only: a checkpoint file never runs code when read.
            return torch.load(self.state_file, map_location=device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
            raise RunError(f"{self.state_file}: retrain checkpoint is unreadable ({type(exc).__name__}: {exc})",
                           hint=f"delete {self.path} to retrain from scratch") from None
