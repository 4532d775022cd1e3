"""The tracker interface: an experiment tracker (TensorBoard, W&B, MLflow) fed by a run.

A tracker plugin contributes a ``Component(kind="tracker", ...)`` from
``automl_register_trackers``; nothing happens until a recipe selects it
(``[run] trackers = ["tensorboard"]`` or ``automl run --tracker tensorboard``). The session
then builds it for that run and hands it the lifecycle hooks through a guard
(:mod:`automl_nas.tracking`): any exception a tracker raises, including a missing package
or no network, is warned about once and the tracker is switched off; the search goes on.

Calling protocol, once per run (in the process that runs the search):

1. :meth:`Tracker.start` after the run directory exists and before the first epoch.
2. :meth:`Tracker.log_step` after every search step (optional; default: nothing).
3. :meth:`Tracker.log_epoch` after each epoch was recorded, with an :class:`EpochView`:
   the epoch record, the architecture snapshot and the space's group labels.
4. :meth:`Tracker.finish` after ``result.json`` was written, however the run ended.

After a method raised, the guard calls :meth:`Tracker.abort` once and nothing else.

A tracker must not change the run (see :class:`~automl_nas.api.RunContext`).
"""

from __future__ import annotations

import abc
import math
import re
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from automl_nas.api.run import RunContext
    from automl_nas.api.space import GroupSpec
    from automl_nas.records.schema import ArchSnapshot, EpochRecord, RunResult

__all__ = ["EpochView", "Tracker", "arch_labels", "metric_key", "step_scalars"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def metric_key(*parts: str) -> str:
    """A metric name every tracker accepts (MLflow allows only ``[A-Za-z0-9_.-/ ]``):
    ``metric_key("probs.cell", "1<-0")`` -> ``"probs.cell/1_from_0"``."""
    return "/".join(_UNSAFE.sub("_", p.replace("<-", "_from_")).strip("_") or "_" for p in parts)


def step_scalars(metrics: dict[str, float]) -> dict[str, float]:
    """A step's ``loss``, ``acc`` and ``lr`` (:meth:`Tracker.log_step`) under the names every
    tracker logs: ``step/acc`` in percent, as the epochs' ``acc/*`` (it was a fraction beside them)."""
    scale = {"acc": 100.0}
    return {f"step/{k}": float(metrics[k]) * scale.get(k, 1.0) for k in ("loss", "acc", "lr") if k in metrics}


def logged_step(steps_per_epoch: int, epoch: int, step: int, every: int) -> int | None:
    """The run's global step of ``step`` in ``epoch`` when a tracker that logs every ``every``
    steps (0: never) logs it, else ``None``. Every N steps of the run, not of each epoch: an
    epoch of fewer steps than N logged none."""
    global_step = epoch * max(steps_per_epoch, 1) + step
    return global_step if every and global_step % every == 0 else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def arch_labels(groups: tuple[GroupSpec, ...], group: str, edges: int, ops: int) -> tuple[list[str], list[str]]:
    """Edge and op labels of an ``edges x ops`` matrix of ``group``; generic ``e0``/``op0``
    when the space's labels do not fit (unknown space, or a sampler that pruned ops)."""
    spec = next((g for g in groups if g.name == group), None)
    edge_labels = list(spec.edges) if spec is not None and len(spec.edges) == edges else [f"e{i}" for i in range(edges)]
    op_labels = list(spec.ops) if spec is not None and len(spec.ops) == ops else [f"op{k}" for k in range(ops)]
    return edge_labels, op_labels


@attrs.frozen(kw_only=True)
class EpochView:
    """One recorded epoch as every tracker sees it (the same content for all of them).

    Attributes:
        epoch: 0-based epoch.
        record: the epoch line of ``metrics.jsonl``, typed.
        arch: the epoch's line of ``arch_history.jsonl`` (``None`` if it is missing).
        groups: the space's groups (edge and op labels), empty when the space could not be built.
    """

    epoch: int
    record: EpochRecord
    arch: ArchSnapshot | None = None
    groups: tuple[GroupSpec, ...] = ()

    def scalars(self) -> dict[str, float]:
        """Losses, accuracies (%), LR, sampler status (temperature, ...), per-group mean edge
        entropy, collapse diagnostics, epoch time and evaluator scores, under stable names."""
        rec = self.record
        raw: dict[str, Any] = {
            "loss/train": rec.train_loss, "loss/arch": rec.arch_loss, "acc/train": rec.train_acc,
            "acc/valid": rec.valid_acc, "acc/child_valid": rec.child_valid_acc, "lr": rec.lr,
            "collapse/skip_fraction": rec.skip_fraction, "collapse/param_free_ops": rec.param_free_ops,
            "time/epoch_s": rec.epoch_time_s, "hessian/eigenvalue": rec.hessian_eigenvalue,
        }
        raw.update({metric_key("sampler", k): v for k, v in rec.sampler_status.items()})
        raw.update({metric_key("entropy", g): v for g, v in rec.entropy.items()})
        raw.update({metric_key("eval", k): v for k, v in (rec.eval or {}).items()})
        return {k: float(v) for k, v in raw.items() if _finite(v)}

    def labels(self, group: str, edges: int, ops: int) -> tuple[list[str], list[str]]:
        """Edge and op labels of ``group`` (see :func:`arch_labels`)."""
        return arch_labels(self.groups, group, edges, ops)

    def edge_probs(self) -> dict[str, float]:
        """Every op probability as ``probs.<group>.<edge>/<op>`` (one chart section per edge)."""
        out: dict[str, float] = {}
        for group, matrix in (self.arch.probs if self.arch else {}).items():
            if not matrix:
                continue
            edges, ops = self.labels(group, len(matrix), len(matrix[0]))
            for edge, row in zip(edges, matrix):
                for op, p in zip(ops, row):
                    out[metric_key(f"probs.{group}.{edge}", op)] = float(p)
        return out


class Tracker(abc.ABC):
    """An experiment tracker; built per run as ``Tracker(config)`` (see the module docstring)."""

    name: str = ""

    @abc.abstractmethod
    def start(self, run: RunContext, groups: tuple[GroupSpec, ...]) -> None:
        """Open the tracker's run (event file, offline run folder, ...) for ``run``."""

    def log_step(self, run: RunContext, epoch: int, step: int, metrics: dict[str, float]) -> None:
        """One search step: ``loss``, ``acc`` (fraction), ``lr``; cheap or nothing (the default)."""

    @abc.abstractmethod
    def log_epoch(self, run: RunContext, view: EpochView) -> None:
        """One recorded epoch: scalars, probabilities, the α matrices, the genotype."""

    @abc.abstractmethod
    def finish(self, run: RunContext, record: RunResult) -> None:
        """The run ended (``record.status``); flush and close."""

    def abort(self) -> None:
        """Release what :meth:`start` opened after one of the methods raised (the guard then
        switches the tracker off and calls this once; errors raised here are ignored)."""
