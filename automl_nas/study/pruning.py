"""Per-epoch intermediate values for Optuna's pruner, as a lifecycle-hook plugin.

The plugin is registered into a trial's own plugin manager; at each
``automl_epoch_end`` it reports ``metrics[key]`` with ``trial.report`` and, when
``trial.should_prune()`` says so, raises :class:`TrialPruned`. The engine
records the run with ``status = "pruned"`` (it copies an error's ``status``).
"""

from __future__ import annotations

from typing import Any

import attrs

from automl_nas.errors import RunError
from automl_nas.hookspecs import hookimpl

__all__ = ["PruneSpec", "PruningReporter", "TrialPruned", "dotted_value"]


def dotted_value(record: dict[str, Any], dotted: str) -> float | None:
    """``record["eval"]["cifar10"]`` for ``eval.cifar10`` (a flat key with dots is found too);
    ``None`` when absent or not a number."""
    node: Any = record.get(dotted, record)
    if node is record:
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


class TrialPruned(RunError):
    """The study's pruner stopped this trial after a poor intermediate value."""

    status = "pruned"
    title = "trial pruned"


@attrs.frozen(kw_only=True)
class PruneSpec:
    """Where a worker finds its Optuna trial: plain data, so it pickles to Ray."""

    storage: str
    study_name: str
    trial_id: int
    key: str = "valid_acc"


class PruningReporter:
    """``automl_epoch_end`` -> ``trial.report`` / ``trial.should_prune``."""

    def __init__(self, trial: Any, key: str = "valid_acc") -> None:
        self.trial, self.key = trial, key
        self.reported: list[tuple[int, float]] = []

    @classmethod
    def from_spec(cls, spec: PruneSpec) -> "PruningReporter":
        # A worker (Ray or local) joins the study through its storage, which is
        # how Optuna shares a study between processes.
        import optuna

        from automl_nas.study.storage import open_storage

        study = optuna.load_study(study_name=spec.study_name, storage=open_storage(spec.storage))
        return cls(optuna.trial.Trial(study, spec.trial_id), spec.key)

    @hookimpl
    def automl_epoch_end(self, run: Any, epoch: int, metrics: dict[str, Any]) -> None:
        value = dotted_value(metrics, self.key)  # "eval.cifar10" is metrics["eval"]["cifar10"]
        if value is None:  # e.g. an epoch without a benchmark evaluation (search.eval_every)
            return
        self.trial.report(float(value), epoch)
        self.reported.append((epoch, float(value)))
        if self.trial.should_prune():
            raise TrialPruned(f"trial {getattr(self.trial, 'number', '?')} pruned at epoch {epoch} "
                              f"({self.key} = {float(value):.4g} is below the pruner's threshold)")
