"""Batch statistics of the global batch across data-parallel processes (issue 15).

In a data-parallel search every rank computes on its slice of the global batch. Batch norm in
training mode normalises with the statistics of what it sees, so without help each rank
normalises its own slice: a different function of the data from the one-process search on the
whole batch (DDP without SyncBatchNorm behaves so). Every NAS-Bench-201 and DARTS supernet
normalises with batch statistics, so the data-parallel search would not be the paper's search.

:class:`GlobalBatchStatistics` is a torch function mode: while it is active, every training-mode
``F.batch_norm`` call (``nn.BatchNorm*`` modules, the fused cells' grouped calls, graph
networks' ``BatchNorm1d``) normalises with the mean and variance of the whole batch, exchanged
in one all-reduce per call, and updates the running statistics with them. In backward the
per-channel sums of the input gradient are all-reduced too, so every rank's input gradient is
that of the one-process loss on the whole batch; the parameters' gradients stay each rank's
share, which the engine averages with the rest. ATen's kernels do every pass over the
activations; a backward with ``create_graph`` recomputes through a differentiable composite.
``torch.nn.SyncBatchNorm`` does this for CUDA modules only: this covers gloo on CPU and the
fused paths that call the function directly.

Cost, measured on 2 CPU cores (DrNAS, NAS-Bench-201 at paper size, batch 64 over 2 gloo
processes): 381 all-reduces per iteration (one per call each way), 1.55 s per iteration
against 0.77 s with per-slice statistics; gloo's all-reduce takes ~1.6 ms here. Without the
communication (one process, identity reduction) the mode and kernels cost +7%. On GPUs the
cost is NCCL's latency for small all-reduces, which no check here has measured yet.
``run.sync_batch_norm = false`` opts out: per-slice statistics, as DDP without SyncBatchNorm.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from automl_nas.nn.batch_norm_backward import input_grad_coefficients, recomputed_batch_norm_grads
from automl_nas.nn.grad_needs import record_inputs, wanted_grads

__all__ = ["GlobalBatchStatistics", "active", "global_batch_norm"]

# The modes entered and not yet left (innermost last); code that computes batch statistics
# without F.batch_norm (the folded kernel, running-statistics tracking) asks :func:`active`.
_ACTIVE: list["GlobalBatchStatistics"] = []
_BATCH_NORM_ARGS = inspect.signature(F.batch_norm)

# A differentiable sum over the processes: its backward sums the gradients over them too.
Reduce = Callable[[torch.Tensor], torch.Tensor]


def active() -> "GlobalBatchStatistics | None":
    """The innermost active mode, or ``None`` when batch statistics are per process."""
    return _ACTIVE[-1] if _ACTIVE else None


def global_batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
                      weight: torch.Tensor | None, bias: torch.Tensor | None, momentum: float, eps: float,
                      reduce: Reduce) -> torch.Tensor:
    """Training-mode ``F.batch_norm`` of ``x`` with the statistics of ``x`` on every process together.

    ATen's own kernels do the passes over ``x`` (statistics, normalisation, the backward's
    reduction); what this adds is one all-reduce each way and a few per-channel operations.
    """
    return _GlobalBatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps, reduce)


def _global_statistics(mean: torch.Tensor, var: torch.Tensor, n: int, reduce: Reduce
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, biased variance, count) of the global batch from this process's ``n`` rows' mean and
    biased variance. Summed as count, sums and sums of squares in float64: the cancellation in
    ``E[x^2] - mean^2`` stays far below float32 rounding."""
    c = mean.shape[0]
    mean64, var64 = mean.double(), var.double()
    count = torch.full((1,), float(n), dtype=torch.float64, device=mean.device)
    total = reduce(torch.cat([count, n * mean64, n * (var64 + mean64.square())]))
    size = total[:1]
    g_mean = total[1:1 + c] / size
    g_var = (total[1 + c:] / size - g_mean.square()).clamp_min(0.0)
    return g_mean.to(mean.dtype), g_var.to(mean.dtype), size


def _accumulate(x: torch.Tensor) -> torch.dtype:
    """The statistics' dtype: float32 for half-precision inputs (as ATen's batch norm keeps them)."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _broadcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.view([1, -1] + [1] * (x.dim() - 2))


class _GlobalBatchNorm(torch.autograd.Function):
    """Training BN over the global batch: forward and first-order backward on ATen's kernels."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, reduce):
        record_inputs(ctx, x, weight, bias, running_mean, running_var, momentum, eps, reduce)
        n = x.numel() // x.shape[1]
        # this process's mean and biased variance: ATen's one-pass kernel (any layout, fp32 accumulation)
        mean, var = torch.batch_norm_update_stats(x, None, None, 0.0)
        acc = _accumulate(x)
        mean, var, size = _global_statistics(mean.to(acc), var.to(acc), n, reduce)
        if running_mean is not None:
            running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
        if running_var is not None:  # unbiased, as ATen's; the count stays on the device (no host sync)
            unbiased = var * (size / (size - 1.0).clamp_min(1.0)).to(var.dtype)
            running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
        invstd = (var + eps).rsqrt()
        # normalising with given statistics is evaluation-mode batch norm: one multiply-add pass
        out = F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)
        ctx.eps, ctx.reduce, ctx.has_bias = eps, reduce, bias is not None
        ctx.save_for_backward(x, weight, mean, invstd, size)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd, size = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: a differentiable recomputation
            def recompute(x, w, b):
                return _differentiable_global_batch_norm(x, w, b, ctx.eps, ctx.reduce)

            return (*recomputed_batch_norm_grads(ctx, x, weight, grad, recompute), None, None, None, None, None)
        want_x, want_weight, want_bias = wanted_grads(ctx)[:3]
        # sum(g) and sum(g * (x - mean)) * invstd per channel, this process's rows: ATen's reduction
        _, dot_invstd, sum_g = torch.ops.aten.native_batch_norm_backward(
            grad, x, None, None, None, mean, invstd, True, ctx.eps, [False, True, True])
        grad_x = None
        if want_x:  # the input gradient needs both sums over the global batch
            c = mean.shape[0]
            totals = ctx.reduce(torch.cat([sum_g, dot_invstd]))
            all_sum, all_dot = totals[:c], totals[c:]
            scale, a, b = input_grad_coefficients(mean, invstd, weight, all_sum, all_dot, size.to(mean.dtype))
            grad_x = torch.addcmul(_broadcast(b, x), x, _broadcast(a, x)).addcmul_(grad, _broadcast(scale, x))
            grad_x = grad_x.to(x.dtype)
        # the parameters' gradients stay this process's share: the engine averages them with the rest
        grad_weight = dot_invstd.to(weight.dtype) if weight is not None and want_weight else None
        grad_bias = sum_g.to(weight.dtype if weight is not None else x.dtype) if ctx.has_bias and want_bias else None
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


def _differentiable_global_batch_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                                      eps: float, reduce: Reduce) -> torch.Tensor:
    """The same function in differentiable operations (statistics through ``reduce``'s autograd)."""
    xs = x.to(_accumulate(x))
    var, mean = torch.var_mean(xs, dim=[d for d in range(x.dim()) if d != 1], correction=0)
    mean, var, _ = _global_statistics(mean, var, x.numel() // x.shape[1], reduce)
    scale = torch.rsqrt(var + eps)
    if weight is not None:
        scale = scale * weight.to(scale.dtype)
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias.to(shift.dtype)
    return torch.addcmul(_broadcast(shift, xs), xs, _broadcast(scale, xs)).to(x.dtype)


def all_reduce_sum(group: Any = None) -> Reduce:
    """The differentiable sum over ``group`` (default: the whole process group)."""
    return lambda t: _SumOverProcesses.apply(t, group)


class _SumOverProcesses(torch.autograd.Function):
    """``all_reduce(SUM)`` whose gradient is the all-reduced gradient, itself differentiable.

    (``torch.distributed.nn.functional.all_reduce`` is the same, but deprecated in favour of
    functional collectives, which have no autograd for all-reduce.)
    """

    @staticmethod
    def forward(ctx, tensor, group):
        import torch.distributed as dist

        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _SumOverProcesses.apply(grad, ctx.group), None


class GlobalBatchStatistics(TorchFunctionMode):
    """While active, training-mode batch norm uses the statistics of the global batch.

    Enter it around the forward passes of a data-parallel step, on every process, in the same
    order: each batch-norm call is a collective. Evaluation-mode calls (running statistics) are
    untouched. ``reduce`` is a differentiable sum over the processes (:func:`all_reduce_sum`).
    """

    def __init__(self, reduce: Reduce):
        super().__init__()
        self.reduce = reduce

    def __enter__(self):
        _ACTIVE.append(self)
        return super().__enter__()

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        return super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.batch_norm:
            a = _BATCH_NORM_ARGS.bind(*args, **kwargs)
            a.apply_defaults()
            p = a.arguments
            if p["training"]:
                return global_batch_norm(p["input"], p["running_mean"], p["running_var"], p["weight"], p["bias"],
                                         p["momentum"], p["eps"], self.reduce)
        return func(*args, **kwargs)
