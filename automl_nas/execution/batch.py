"""A seed batch's own record (``batch.json``) and ``automl run --resume BATCH_DIR``.

The batch directory records what the driver planned before any trial ran: the recipe's
name, the executor and every :class:`~automl_nas.records.trial.TrialSpec`. A driver killed
mid-batch leaves finished trials (``result.json`` with status ``finished``), trials cut short
(a checkpoint and an attempt log) and trials never started; resuming runs only the last two,
each through :func:`~automl_nas.execution.trial.run_trial`, which continues from the trial's
own checkpoint.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import attrs

from automl_nas.errors import RunError
from automl_nas.records.trial import TrialResult, TrialSpec

__all__ = ["BATCH_FILE", "SeedBatch", "is_seed_batch", "read_batch", "resume_seed_trials", "write_batch"]

BATCH_FILE = "batch.json"


@attrs.frozen(kw_only=True)
class SeedBatch:
    """What a seed batch runs: ``executor`` (``local``/``ray``), its cluster ``address``
    (empty: a private local Ray), resources and retries per trial, and the trial specs."""

    recipe: str
    executor: str
    address: str = ""
    cpus: float = 1.0
    gpus: float = 0.0
    retries: int = 0
    specs: tuple[TrialSpec, ...] = ()


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
                       hint="pass a directory `automl run --seeds` created") from None


def _finished(spec: TrialSpec) -> TrialResult | None:
    from automl_nas.execution.trial import read_attempts

    try:
        result = json.loads((Path(spec.run_dir) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if result.get("status") != "finished":
        return None
    return TrialResult(spec=spec, status="finished", result=result, attempts=max(len(read_attempts(spec)), 1))


def resume_seed_trials(parent: str | Path, *, quiet: bool = False) -> dict:
    """Finish the seed batch in ``parent``: trials that finished are kept as they are, the
    others run (resuming from their checkpoints) on the batch's executor; then the aggregate
    is rewritten. Returns the same summary as :func:`~automl_nas.execution.trials.run_seed_trials`."""
    from automl_nas.execution.trials import _run_specs, _write_summary
    from automl_nas.records.lock import directory_lock
    from automl_nas.session import open_session

    parent = Path(parent).resolve()
    batch = read_batch(parent)
    session = open_session()
    log = (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    with directory_lock(parent, what="seed batch", log=log):
        done = {s.run_dir: r for s in batch.specs if (r := _finished(s)) is not None}
        todo = [s for s in batch.specs if s.run_dir not in done]
        log(f"resuming {parent}: {len(done)} of {len(batch.specs)} trials finished, running {len(todo)}")
        ran = _run_specs(todo, parent, batch, session.pm, quiet=quiet,
                         experiment=f"tune-resumed-{time.strftime('%Y%m%d-%H%M%S')}") if todo else []
        by_dir = {**done, **{r.spec.run_dir: r for r in ran}}
        return _write_summary(parent, batch.recipe, [by_dir[s.run_dir] for s in batch.specs])
