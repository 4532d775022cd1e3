"""Trial checkpoints handed to Ray Tune, for a batch whose ``[executor] storage`` every node reaches.

After every epoch the trial's run directory (its engine checkpoint, records and recipe) and its
attempt log are reported to Tune as one checkpoint (``tune.report(..., checkpoint=...)``); Tune
persists it under the storage. A retry, on whichever node Tune places it, first restores the
latest one (``tune.get_checkpoint()``) into its run directory and so resumes from it.

Ray >= 2.7 persists checkpoints only to a storage every node can reach (cloud storage or NFS);
without one the driver's record sink (:mod:`automl_nas.execution.sync`) plays this part.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from automl_nas.records.lock import LOCK_NAME

__all__ = ["report_with_checkpoint", "restore_latest"]

_RUN, _ATTEMPTS = "run", "attempts.jsonl"


def report_with_checkpoint(metrics: dict[str, Any], run_dir: Path, attempt_log: Path) -> None:
    """``tune.report(metrics)`` with the run directory and attempt log as the checkpoint."""
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="automl-ckpt-") as tmp:
        # The lock belongs to this live attempt: a restored copy must not carry it.
        shutil.copytree(run_dir, Path(tmp) / _RUN, ignore=shutil.ignore_patterns(LOCK_NAME, "*.tmp"))
        if attempt_log.is_file():
            shutil.copy2(attempt_log, Path(tmp) / _ATTEMPTS)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def restore_latest(run_dir: Path, attempt_log: Path) -> bool:
    """Put Tune's latest checkpoint of this trial (if any) into ``run_dir`` and ``attempt_log``;
    ``True`` when there was one. The attempt log keeps whichever copy knows more attempts."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return False
    with checkpoint.as_directory() as saved:
        saved = Path(saved)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        shutil.copytree(saved / _RUN, run_dir)
        if (saved / _ATTEMPTS).is_file():
            here = attempt_log.read_text(encoding="utf-8").splitlines() if attempt_log.is_file() else []
            there = (saved / _ATTEMPTS).read_text(encoding="utf-8").splitlines()
            if len(there) > len(here):
                attempt_log.parent.mkdir(parents=True, exist_ok=True)
                attempt_log.write_text("\n".join(there) + "\n", encoding="utf-8")
    return True
