"""One search across several devices: data parallelism of weights and architecture (issue 15).

Launched with ``torchrun --nproc-per-node N`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the
environment), the engine joins the process group itself (gloo on CPU, nccl on GPUs; each rank
on ``cuda:LOCAL_RANK``). Every rank builds the same run from the same seed, so the supernet,
the architecture parameters and the sampler's random stream start identical; every rank reads
the same *global* batch (``data.batch_size``) and computes on its own contiguous slice; after
each backward the gradients of the weights and of the architecture parameters are averaged
(all-reduce). The updates, and so the architecture at every step, are then the same on every
rank. With equal slices the averaged gradient of the mean loss is the gradient on the whole
batch. Batch norm in training mode would normalise each rank's slice (as ``nn.DataParallel``
and DDP without SyncBatchNorm do); inside a step it uses the statistics of the global batch
instead (:meth:`World.global_batch_statistics`, ``run.sync_batch_norm``), so supernets with
batch-statistics BN take the one-process steps too.
"""

from __future__ import annotations

import contextlib
import os
from typing import ContextManager, Iterable

import attrs
import torch

__all__ = ["World", "join_from_environment"]


@attrs.frozen
class World:
    """This process's place in the run: ``rank`` of ``size`` (size 1: a one-process run)."""

    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> "World":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return cls(rank=dist.get_rank(), size=dist.get_world_size())
        return cls()

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's contiguous slice of a global batch (equal slices: the batch must divide)."""
        if self.size == 1:
            return x, y
        if len(x) % self.size:
            raise ValueError(f"a batch of {len(x)} does not split into {self.size} equal parts; "
                             f"use a data.batch_size divisible by the number of processes")
        part = len(x) // self.size
        lo = self.rank * part
        return x[lo: lo + part], y[lo: lo + part]

    def global_batch_statistics(self) -> ContextManager:
        """Around a step's forward passes: training-mode batch norm over the global batch
        (one collective per call, so every rank enters it around the same passes); a no-op in a
        one-process run."""
        if self.size == 1:
            return contextlib.nullcontext()
        from automl_nas.nn.synced_batch_norm import GlobalBatchStatistics, all_reduce_sum

        return GlobalBatchStatistics(all_reduce_sum())

    def gather(self, value: object) -> list:
        """``value`` of every rank, in rank order (picklable values; ``[value]`` at size 1)."""
        if self.size == 1:
            return [value]
        import torch.distributed as dist

        out: list = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def average_grads(self, params: Iterable[torch.Tensor]) -> None:
        """All-reduce the mean of every gradient, in one flat buffer (one collective per step)."""
        if self.size == 1:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            torch._foreach_copy_(grads, self.mean(grads))

    def mean(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """The mean over the ranks of each tensor, in one flat all-reduce (the tensors themselves at size 1)."""
        if self.size == 1 or not tensors:
            return tensors
        import torch.distributed as dist

        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.size
        return [c.view_as(t) for c, t in zip(flat.split([t.numel() for t in tensors]), tensors)]


def join_from_environment(device: str) -> str:
    """Join the process group torchrun describes (no-op otherwise); returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return device


def leave() -> None:
    """Leave the process group together: a barrier, then ``destroy_process_group``. A rank that
    exits while another still tears gloo down can abort (``terminate called without an active
    exception``); no-op outside torchrun."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_lost_rank(exc: BaseException) -> bool:
    """Whether ``exc`` is the collective of a process group whose peer went away (killed rank,
    lost node): gloo's "Connection reset by peer"/"Connection closed", NCCL's remote errors."""
    name = type(exc).__name__
    text = str(exc)
    return (name in ("DistBackendError", "DistNetworkError") or
            (isinstance(exc, RuntimeError) and any(k in text for k in ("gloo", "NCCL", "Connection reset by peer",
                                                                        "Connection closed by peer"))))
