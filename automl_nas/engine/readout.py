"""The search loop's per-step numbers, read back from the device in one transfer per step (issue 15).

The loop needs a few host values per step: the losses and accuracy for the epoch means and the
``automl_step_end`` hook, and the finiteness of the losses and of every architecture parameter
for the NaN guard. Read one by one (``float(loss)``, ``bool(isfinite(p).all())`` per group) they
were up to six device synchronisations per step; here they are packed on the device and read
through :class:`automl_nas.readback.LaggedReads`: one transfer per step, on a CUDA device one
step late.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import torch

from automl_nas.readback import LaggedReads

__all__ = ["StepReadout", "StepValues"]


@attrs.frozen
class StepValues:
    """The host values of one step."""

    step: int
    loss: float
    acc: float  # fraction of the batch
    arch_loss: float
    finite_groups: tuple[bool, ...]  # per architecture group, in the order of the ``params`` pushed: all finite


class StepReadout:
    """The search step's values, packed and read late.

    **When each method runs:** :meth:`push` once per step, after the step's work was queued; it
    returns the values now due (at most one per call). :meth:`drain` at the end of an epoch that
    ran to its end; it returns the rest. An epoch cut short simply drops the object.
    """

    def __init__(self, *, lag: int) -> None:
        self.lag = lag
        self._reads: LaggedReads[int] = LaggedReads(lag=lag)

    def push(self, step: int, loss: torch.Tensor, acc: torch.Tensor, arch_loss: torch.Tensor,
             params: Iterable[torch.Tensor]) -> list[StepValues]:
        device = loss.device
        finite = [torch.isfinite(p.detach()).all() for p in params]
        packed = torch.stack([loss.detach().float(), acc.detach().float(), arch_loss.detach().float().to(device),
                              *(f.to(device=device, dtype=torch.float32) for f in finite)])
        return [_values(*due) for due in self._reads.push(step, packed)]

    def drain(self) -> list[StepValues]:
        return [_values(*due) for due in self._reads.drain()]


def _values(step: int, values: list[float]) -> StepValues:
    loss, acc, arch_loss, *finite = values
    return StepValues(step=step, loss=loss, acc=acc, arch_loss=arch_loss, finite_groups=tuple(f == 1.0 for f in finite))
