"""Per-step device values read back on the host in one transfer, a fixed number of steps late.

A training loop needs a few host values per step (a loss for the epoch mean, a correct count, a
finiteness flag for a guard). Read one by one with ``float()``/``int()``, each is a device
synchronisation. Packed into one tensor per step and pushed here, they cost one ``tolist()``.

On a CUDA device the read of step i waits until step i + 1 is queued (``lag = 1``): the host then
waits only for step i while the device already has the next step's work, so the device never
idles for the host's bookkeeping. A CPU has finished every op when it returns, so there the
values are read at once (``lag = 0``) and a guard sees each step right after it.

Used by the search loop (:mod:`automl_nas.engine.readout`) and by evaluators that train.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import torch

__all__ = ["LaggedReads", "lag_for"]

Tag = TypeVar("Tag")


def lag_for(device: str | torch.device) -> int:
    """Steps between queuing a step and reading its values: 1 on CUDA devices, else 0."""
    return 1 if str(device).startswith("cuda") else 0


class LaggedReads(Generic[Tag]):
    """A FIFO of packed per-step tensors, each read with one transfer, ``lag`` pushes late.

    **When each method runs:** :meth:`push` once per step, after the step's work was queued; it
    returns the ``(tag, values)`` now due, oldest first (at most one per call). :meth:`drain` once
    the loop has ended; it returns the rest. A loop cut short simply drops the object.
    """

    def __init__(self, *, lag: int) -> None:
        self.lag = lag
        self._pending: deque[tuple[Tag, torch.Tensor]] = deque()

    def push(self, tag: Tag, packed: torch.Tensor) -> list[tuple[Tag, list[float]]]:
        self._pending.append((tag, packed))
        due = []
        while len(self._pending) > self.lag:
            tag_due, values = self._pending.popleft()
            due.append((tag_due, values.tolist()))  # the step's one device-to-host transfer
        return due

    def drain(self) -> list[tuple[Tag, list[float]]]:
        due = [(tag, values.tolist()) for tag, values in self._pending]
        self._pending.clear()
        return due
