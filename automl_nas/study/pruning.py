"""Per-epoch intermediate values for Optuna's pruner, decided in the study's driver.

Each epoch of a running trial reaches the driver through the executor's epoch stream
(:mod:`automl_nas.execution.epochs`); :class:`PruningReporter` reports the value with
``trial.report`` and answers ``trial.should_prune()``. A trial told to stop raises
:class:`TrialPruned` in its worker, and the engine records the run with ``status = "pruned"``
(it copies an error's ``status``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl_nas.execution.epochs import TrialStopped

__all__ = ["PruningReporter", "TrialPruned", "dotted_value"]


def dotted_value(record: dict[str, Any], dotted: str, *, null: float | None = None) -> float | None:
    """``record["eval"]["cifar10"]`` for ``eval.cifar10`` (a flat key with dots is found too);
    ``None`` when absent or not a number; ``null`` when present as ``null`` (records write a
    non-finite number so: :mod:`automl_nas.records.strict_json`)."""
    node: Any = record.get(dotted, record)
    if node is record:
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    if node is None:
        return null
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


#: Raised in a trial the study's pruner stopped (the epoch stream's stop, under its study name).
TrialPruned = TrialStopped


class PruningReporter:
    """Driver side: each epoch of a running trial -> ``trial.report`` / ``trial.should_prune``
    on the trial this driver asked for (Optuna's public API; workers never open the storage).

    Epochs without ``key`` (e.g. no benchmark evaluation that epoch, ``search.eval_every``) are
    skipped; :attr:`reported` lists ``(epoch, value)`` of those reported, so the driver can
    tell a key that never appeared from a trial that was never pruned."""

    def __init__(self, trial: Any, key: str = "valid_acc") -> None:
        self.trial, self.key = trial, key
        self.reported: list[tuple[int, float]] = []

    def replay(self, run_dir: Path) -> None:
        """Report the epochs a continued trial's run already holds in its checkpoint: its new
        Optuna trial started empty, so the pruner saw a partial curve and the medians of those
        epochs lost it. (An epoch recorded after the checkpoint is computed again, and reported then.)"""
        from automl_nas.records.rundir import RunDir, read_jsonl, saved_epochs

        rd = RunDir(run_dir)
        held = saved_epochs(rd.checkpoint_file)
        if not isinstance(held, int):
            return
        for record in read_jsonl(rd.metrics_file):
            epoch = record.get("epoch")
            value = dotted_value(record, self.key)
            if isinstance(epoch, int) and epoch < held and value is not None:
                self.trial.report(float(value), epoch)
                self.reported.append((epoch, float(value)))

    def observe(self, epoch: int, metrics: dict[str, Any], num_epochs: int = 0) -> bool:
        """Report the epoch's value; ``True`` when the pruner says stop. The last of
        ``num_epochs`` (``0``: unknown) is reported but never pruned: stopping there saves no
        training and would throw away a finished search and its final evaluation."""
        value = dotted_value(metrics, self.key)  # "eval.cifar10" is metrics["eval"]["cifar10"] or a flat key
        if value is None:
            return False
        self.trial.report(float(value), epoch)
        self.reported.append((epoch, float(value)))
        if num_epochs and epoch >= num_epochs - 1:
            return False
        return bool(self.trial.should_prune())
