"""The epoch stream of running trials: every epoch record goes from the worker to the driver.

One stream for every kind of trial and executor (issue 14): the driver prints one progress
line per epoch of each running trial (the batch's own reporter, not Ray's tables) and, for a
study with a pruner, answers whether the trial goes on. The worker side is a lifecycle plugin,
:class:`EpochRelay`, registered into the trial's own plugin manager; it hands an
:class:`EpochEvent` to a ``send`` callable (a direct call in-process, a Ray actor on a cluster:
:mod:`automl_nas.execution.channel`) and stops the run with :class:`TrialStopped` when the
driver says so. The driver is the only process that touches the study's storage.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs

from automl_nas.errors import RunError
from automl_nas.hookspecs import hookimpl

__all__ = ["EpochEvent", "EpochRelay", "TrialStopped", "epoch_line"]


@attrs.frozen(kw_only=True)
class EpochEvent:
    """One finished epoch of a running trial, as the driver sees it.

    Attributes:
        trial: the trial's name (``seed-3``, ``trial-12``).
        epoch: 0-based epoch index.
        num_epochs: the run's planned epochs.
        metrics: the epoch record flattened to dotted numeric keys (``train_loss``, ``eval.cifar10``).
        wants_answer: whether the worker waits for the driver's go-on/stop answer.
    """

    trial: str
    epoch: int
    num_epochs: int
    metrics: dict[str, float] = attrs.field(factory=dict)
    wants_answer: bool = False


class TrialStopped(RunError):
    """The driver stopped this trial after an epoch (a study's pruner); the run is recorded
    with ``status = "pruned"`` and the executor does not retry it."""

    status = "pruned"
    title = "trial pruned"


#: ``send(event) -> stop?``; a send that does not wait for an answer returns ``False``.
Send = Callable[[EpochEvent], bool]


class EpochRelay:
    """Worker side of the stream: ``automl_epoch_end`` -> ``send(EpochEvent)``."""

    def __init__(self, trial: str, send: Send, *, wants_answer: bool = False) -> None:
        self.trial, self.send, self.wants_answer = trial, send, wants_answer

    @hookimpl
    def automl_epoch_end(self, run: Any, epoch: int, metrics: dict[str, Any]) -> None:
        from automl_nas.execution.aggregate import flatten_numeric

        event = EpochEvent(trial=self.trial, epoch=epoch, num_epochs=int(getattr(run, "num_epochs", 0) or 0),
                           metrics=flatten_numeric(metrics), wants_answer=self.wants_answer)
        if self.send(event) and self.wants_answer:
            raise TrialStopped(f"{self.trial} stopped by the study's pruner after epoch {epoch + 1}")  # 1-based, as epoch_line


_SHOWN = ("train_loss", "valid_acc", "eval.cifar10")


def epoch_line(event: EpochEvent) -> str:
    """``trial seed-1: epoch 3/50 train_loss 1.234 valid_acc 45.6``: the driver's progress line."""
    shown = " ".join(f"{k} {event.metrics[k]:.4g}" for k in _SHOWN if k in event.metrics)
    total = f"/{event.num_epochs}" if event.num_epochs else ""
    return f"trial {event.trial}: epoch {event.epoch + 1}{total}" + (f" {shown}" if shown else "")
