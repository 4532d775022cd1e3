"""A seed batch's own record (``batch.json``), read by ``automl run --resume BATCH_DIR``.

The batch directory records what the driver planned before any trial ran: the recipe's
name, the executor and every :class:`~automl_nas.records.trial.TrialSpec`. A driver killed
mid-batch leaves finished trials (``result.json`` with status ``finished``), trials cut short
(a checkpoint and an attempt log) and trials never started; resuming runs only the last two,
each through :func:`~automl_nas.execution.trial.run_trial`, which continues from the trial's
own checkpoint (:func:`automl_nas.execution.trials.resume_seed_trials`).
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs

from automl_nas.errors import RunError
from automl_nas.records.trial import TrialSpec

__all__ = ["BATCH_FILE", "SeedBatch", "is_seed_batch", "read_batch", "write_batch"]

BATCH_FILE = "batch.json"


@attrs.frozen(kw_only=True)
class SeedBatch:
    """What a seed batch runs: ``executor`` (``local``/``ray``), its cluster ``address``
    (empty: a private local Ray), resources and retries per trial, the Tune checkpoint
    ``storage`` (empty: none), the trial specs and the files its recipe names with their
    SHA-256 (:mod:`automl_nas.records.input_files`; none in a batch recorded before them)."""

    recipe: str
    executor: str
    address: str = ""
    cpus: float = 1.0
    gpus: float = 0.0
    retries: int = 0
    storage: str = ""
    specs: tuple[TrialSpec, ...] = ()
    input_files: dict[str, dict[str, str]] = attrs.field(factory=dict)


def write_batch(parent: Path, batch: SeedBatch) -> None:
    from automl_nas.records.rundir import atomic_write_json

    atomic_write_json(parent / BATCH_FILE, attrs.asdict(batch))


def is_seed_batch(path: str | Path) -> bool:
    return (Path(path) / BATCH_FILE).is_file()


def read_batch(parent: Path) -> SeedBatch:
    try:
        raw = json.loads((parent / BATCH_FILE).read_text(encoding="utf-8"))
        return SeedBatch(**{**raw, "specs": tuple(TrialSpec(**s) for s in raw["specs"])})
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RunError(f"{parent / BATCH_FILE}: cannot read the seed batch record ({exc})",
                       hint=f"it lists the batch's trials: restore it from a copy, or resume each trial on its own "
                            f"(`automl run --resume {parent}/seed-N`)") from None
