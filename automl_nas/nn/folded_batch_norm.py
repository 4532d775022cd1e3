"""Training batch norm for channels-last CPU tensors whose channel count ATen handles slowly (issue 15).

ATen's channels-last CPU batch-norm kernels vectorise along the channels of each pixel. When the
channel count is not a multiple of 16 (an AVX-512 register of fp32) every pixel ends in a
masked tail, and the kernels slow down by 3-5x. Measured on 2 cores, 64x C x 32x32, forward +
backward: 16 channels 0.6 ms, 8 channels 1.4 ms, 24 channels 2.9 ms, 32 channels 0.9 ms.
DrNAS' partial channels produce exactly such groups: at K_pc = 4 a stage-1 op sees 4 channels,
and the fused cell's grouped BNs have 24 and 8.

A channels-last tensor is an ``(M, C)`` matrix (M = N*H*W pixels), and BN's statistics are its
column sums. Folding ``k`` consecutive pixels into one row, ``(M / k, k * C)``, is a free view
whose width is a multiple of 16; the column statistics of that view, combined over the ``k``
blocks, are the per-channel ones, and the per-channel affine map is tiled ``k`` times. The
column reductions are ATen's own batch-norm kernels run on the folded matrix seen as a
``k * C``-channel tensor (one pass each way, at full vector width), so the same function runs
as one reduction and one multiply-add forward, one reduction and two multiply-adds backward:
0.5 ms instead of 1.4 ms for 8 channels. Fewer passes matter more than wider ones: inside a
search step the saved activations come from DRAM, not cache (issue 15: the pass-count rewrite
measured -5% on the DrNAS progressive step).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from automl_nas.nn.grad_needs import record_inputs, wanted_grads
from automl_nas.nn.batch_norm_backward import input_grad_coefficients, recomputed_batch_norm_grads
from automl_nas.nn.synced_batch_norm import active as global_batch_statistics

__all__ = ["batch_norm", "fold_factor"]

_VECTOR = 16  # fp32 lanes of an AVX-512 register: ATen's kernels are fast for multiples of it
# Above this width the masked tail is a small part of each pixel and ATen's kernels win (measured:
# 72 channels at 16x16 1.0 vs 1.1 ms; 120 channels at 8x8 0.37 vs 0.34 ms).
_MAX_CHANNELS = 64


def fold_factor(x: torch.Tensor) -> int:
    """How many pixels of ``x`` to fold into one row for the folded kernel; 0: use ATen's.

    Only dense channels-last fp32/fp64 CPU tensors whose channel count is not a multiple of 16
    (and is below 64) fold, and only when the pixel count allows a width that is a multiple of 16.
    """
    if x.dim() != 4 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return 0
    c = x.shape[1]
    if c % _VECTOR == 0 or c >= _MAX_CHANNELS or x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return 0
    m, k = x.numel() // c, 1
    while (k * c) % _VECTOR and m % (2 * k) == 0:
        k *= 2
    return k if (k * c) % _VECTOR == 0 else 0


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None, running_var: torch.Tensor | None,
               weight: torch.Tensor | None = None, bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """``F.batch_norm`` with the same arguments; training-mode calls on the slow channel counts run folded.

    Evaluation mode (running statistics) stays on ATen: it is one multiply-add per element
    there and measured fast. Under :class:`~automl_nas.nn.synced_batch_norm.GlobalBatchStatistics`
    (a data-parallel step) every call is ``F.batch_norm``'s, which the mode makes global.
    """
    k = fold_factor(x) if training and global_batch_statistics() is None else 0
    if not k:
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    return _FoldedBatchNorm.apply(x, weight, bias, running_mean, running_var, momentum, eps, k)


def _rows(x: torch.Tensor, k: int) -> torch.Tensor:
    """A dense channels-last ``(N, C, H, W)`` tensor as its ``(N*H*W / k, k*C)`` matrix (a view)."""
    c = x.shape[1]
    return x.permute(0, 2, 3, 1).reshape(x.numel() // (k * c), k * c)


def _as_channels(rows: torch.Tensor) -> torch.Tensor:
    """The ``(R, W)`` row matrix as a channels-last ``(1, W, R, 1)`` tensor (a view): W channels
    of R pixels each, so ATen's batch-norm kernels reduce its columns at full vector width."""
    return rows.t().unsqueeze(0).unsqueeze(-1)


def _per_channel(row_sums: torch.Tensor, k: int) -> torch.Tensor:
    return row_sums.view(k, -1).sum(0)


class _FoldedBatchNorm(torch.autograd.Function):
    """Training BN (batch statistics) of a channels-last tensor through its folded row matrix."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, k):
        record_inputs(ctx, x, weight, bias, running_mean, running_var, momentum, eps, k)
        n, c, h, w = x.shape
        m = n * h * w
        rows = _rows(x, k)
        # One pass for the statistics: ATen's own (two-pass-accurate) kernel on the folded matrix,
        # whose k * C columns are a multiple of 16, then the k column blocks combined exactly
        # (equal counts: mean of means; mean of variances plus the variance of the means).
        col_mean, col_var = torch.batch_norm_update_stats(_as_channels(rows), None, None, 0.0)
        col_mean = col_mean.view(k, c)
        mean = col_mean.mean(0)
        var = (col_var.view(k, c) + (col_mean - mean).square_()).mean(0)  # biased, as BN normalises with
        invstd = var.add(eps).rsqrt_()
        scale = invstd if weight is None else invstd * weight
        shift = -mean * scale if bias is None else bias - mean * scale
        # x * scale + (bias - mean * scale), as ATen's kernel computes it. The output is a
        # channels-last tensor of its own, not a view of one made here (callers add into it in place).
        out = torch.empty_like(x, memory_format=torch.channels_last)
        torch.addcmul(shift.repeat(k), rows, scale.repeat(k), out=_rows(out, k))
        if running_mean is not None:
            running_mean.mul_(1.0 - momentum).add_(mean, alpha=momentum)
        if running_var is not None:
            running_var.mul_(1.0 - momentum).add_(var, alpha=momentum * m / max(m - 1, 1))
        ctx.k, ctx.has_bias, ctx.eps = k, bias is not None, eps
        ctx.save_for_backward(x, weight, mean, invstd)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph (Hessian-vector products): a differentiable recomputation
            # mean and invstd are out of autograd here: a second derivative needs them as functions of x
            return (*recomputed_batch_norm_grads(ctx, x, weight, grad, lambda x, w, b: F.batch_norm(
                x, None, None, w, b, True, 0.0, ctx.eps)), None, None, None, None, None)
        want_x, want_weight, want_bias = wanted_grads(ctx)[:3]
        k, (n, c, h, w) = ctx.k, x.shape
        m = n * h * w
        g = _rows(grad.contiguous(memory_format=torch.channels_last), k)
        rows = _rows(x, k)
        # sum(g) and sum(g * (x - mean)) * invstd per column in one pass: ATen's BN-backward
        # reduction on the folded matrix (centred first, as for the unfolded one), blocks summed.
        _, col_dot, col_sum = torch.ops.aten.native_batch_norm_backward(
            _as_channels(g), _as_channels(rows), None, None, None, mean.repeat(k), invstd.repeat(k), True, ctx.eps,
            [False, True, True])
        dot_invstd, sum_g = _per_channel(col_dot, k), _per_channel(col_sum, k)
        grad_x = None
        if want_x:
            scale, a, b = input_grad_coefficients(mean, invstd, weight, sum_g, dot_invstd, m)
            grad_x = torch.addcmul(b.repeat(k), rows, a.repeat(k)).addcmul_(g, scale.repeat(k))
            grad_x = grad_x.view(n, h, w, c).permute(0, 3, 1, 2)
        grad_weight = dot_invstd if weight is not None and want_weight else None
        grad_bias = sum_g if ctx.has_bias and want_bias else None
        return grad_x, grad_weight, grad_bias, None, None, None, None, None
