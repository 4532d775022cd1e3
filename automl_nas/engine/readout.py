"""The search loop's per-step numbers, read back from the device in one transfer per step (issue 15).

The loop needs a few host values per step: the losses and accuracy for the epoch means and the
``automl_step_end`` hook, and the finiteness of the losses and of every architecture parameter
for the NaN guard. Read one by one (``float(loss)``, ``bool(isfinite(p).all())`` per group) they
were up to six device synchronisations per step; here they are packed on the device and read
with one ``tolist()``.

On a CUDA device the read of step i happens ``lag = 1`` step late, once step i + 1 is queued:
the host then waits only for step i while the device already has the next step's work, so the
device never idles for the host's per-step bookkeeping. A CPU has finished every op when it
returns, so there a lag buys nothing and the values are read at once (``lag = 0``): the hook and
the guard see each step right after it, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs
import torch

__all__ = ["StepReadout", "StepValues", "lag_for"]


@attrs.frozen
class StepValues:
    """The host values of one step."""

    step: int
    loss: float
    acc: float  # fraction of the batch
    arch_loss: float
    finite_groups: tuple[bool, ...]  # per architecture group, in the order of the ``params`` pushed: all finite


def lag_for(device: str) -> int:
    """Steps between queuing a step and reading its values: 1 on CUDA devices, else 0."""
    return 1 if str(device).startswith("cuda") else 0


class StepReadout:
    """A FIFO of packed per-step scalars.

    **When each method runs:** :meth:`push` once per step, after the step's work was queued; it
    returns the values now due (at most one per call). :meth:`drain` at the end of an epoch that
    ran to its end; it returns the rest. An epoch cut short simply drops the object.
    """

    def __init__(self, *, lag: int) -> None:
        self.lag = lag
        self._pending: deque[tuple[int, torch.Tensor]] = deque()

    def push(self, step: int, loss: torch.Tensor, acc: torch.Tensor, arch_loss: torch.Tensor,
             params: Iterable[torch.Tensor]) -> list[StepValues]:
        device = loss.device
        finite = [torch.isfinite(p.detach()).all() for p in params]
        packed = torch.stack([loss.detach().float(), acc.detach().float(), arch_loss.detach().float().to(device),
                              *(f.to(device=device, dtype=torch.float32) for f in finite)])
        self._pending.append((step, packed))
        due = []
        while len(self._pending) > self.lag:
            due.append(self._read(*self._pending.popleft()))
        return due

    def drain(self) -> list[StepValues]:
        due = [self._read(*item) for item in self._pending]
        self._pending.clear()
        return due

    @staticmethod
    def _read(step: int, packed: torch.Tensor) -> StepValues:
        loss, acc, arch_loss, *finite = packed.tolist()  # the step's one device-to-host transfer
        return StepValues(step=step, loss=loss, acc=acc, arch_loss=arch_loss, finite_groups=tuple(f == 1.0 for f in finite))
