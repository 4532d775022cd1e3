"""Depthwise convolution with a faster CPU backward; same maths as ``F.conv2d(..., groups=C)``.

Why (issue 8; torch 2.14 / oneDNN, channels-last, batch 64, one thread): oneDNN's depthwise
forward is fast (0.2-0.4 ms at 16x32x32), but several of its backward kernels are not: the input
gradient of dilated convs (4.2 ms for 5x5, dilation 2), the weight gradient of 5x5 kernels
(4.1 ms), the dilated weight gradient on small images (13 ms at 64x8x8) and everything dilated at
stride 2 (24-50 ms per dil_conv of a reduction cell). They are rewritten, exactly up to float
rounding, with kernels that are fast:

* stride 1: input gradient = forward conv of the output gradient with the flipped kernel;
* 5x5 weight gradient = four 3x3 weight gradients on shifted views of the padded input;
* dilation 2, images of at most 16x16: output pixel (2a+p, 2b+q) reads only phase (p, q) of the
  input, so the weight gradient is an undilated one over the four phases stacked in the batch;
* dilation 2 at stride 2 reads only the even rows and columns of the padded input: a dense,
  stride-1 conv of that sub-sampled input.

Off the CPU (and under autocast) :func:`depthwise_conv2d` is plain ``F.conv2d``; undilated
stride-2 convs use oneDNN as is. The backward is written with differentiable ops, so double
backward (Hessian-vector products) works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from automl_nas.nn.grad_needs import record_inputs, wanted_grads

__all__ = ["depthwise_conv2d"]

_conv_backward = torch.ops.aten.convolution_backward


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, None, stride, padding, dilation, groups=x.shape[1])``, square kernels.

    Example:
        >>> x, w = torch.randn(2, 3, 8, 8), torch.randn(3, 1, 5, 5)
        >>> torch.allclose(depthwise_conv2d(x, w, 1, 4, 2), F.conv2d(x, w, None, 1, 4, 2, 3), atol=1e-5)
        True
    """
    plain = x.device.type != "cpu" or torch.is_autocast_enabled("cpu") or x.dtype != weight.dtype
    if plain or stride not in (1, 2) or dilation not in (1, 2):
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])
    if stride == 2 and dilation == 2:
        # Dilation 2 at stride 2 reads only the even rows and columns of the padded input.
        k = weight.shape[-1]
        h_out = (x.shape[2] + 2 * padding - 2 * (k - 1) - 1) // 2 + 1
        w_out = (x.shape[3] + 2 * padding - 2 * (k - 1) - 1) // 2 + 1
        even = F.pad(x, (padding,) * 4)[:, :, ::2, ::2][:, :, : h_out + k - 1, : w_out + k - 1]
        x, stride, padding, dilation = even.contiguous(memory_format=_layout(x)), 1, 0, 1
    if stride == 2:  # oneDNN's stride-2 (undilated) kernels are already fast
        return F.conv2d(x, weight, None, stride, padding, dilation, x.shape[1])
    return _DepthwiseConv.apply(x, weight, padding, dilation)


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


class _DepthwiseConv(torch.autograd.Function):
    """Stride-1 depthwise conv whose backward avoids oneDNN's slow kernels."""

    @staticmethod
    def forward(ctx, x, weight, padding, dilation):
        record_inputs(ctx, x, weight, padding, dilation)
        ctx.save_for_backward(x, weight)
        ctx.conf = (padding, dilation)
        return F.conv2d(x, weight, None, 1, padding, dilation, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        padding, dilation = ctx.conf
        gx = gw = None
        want_x, want_w = wanted_grads(ctx)[:2]  # an arch step wants no weight gradient
        if want_x:
            gx = _grad_input(grad_out, x, weight, padding, dilation)
        if want_w:
            gw = _grad_weight(grad_out, x, weight, padding, dilation)
        return gx, gw, None, None


def _grad_input(go: torch.Tensor, x: torch.Tensor, w: torch.Tensor, padding: int, dilation: int) -> torch.Tensor:
    """At stride 1 the input gradient is the forward conv of ``go`` with the flipped kernel."""
    span = dilation * (w.shape[-1] - 1)
    if padding <= span:
        return F.conv2d(go, w.flip((2, 3)), None, 1, span - padding, dilation, x.shape[1])
    return _onednn_grad(go, x, w, padding, dilation, [True, False, False])[0]


def _grad_weight(go: torch.Tensor, x: torch.Tensor, w: torch.Tensor, padding: int, dilation: int) -> torch.Tensor:
    k = w.shape[-1]
    if k == 5 and dilation == 1:
        return _grad_weight_5x5(go, x, padding)
    small = go.shape[2] * go.shape[3] <= 256
    if dilation == 2 and small and go.shape[2] % 2 == 0 and go.shape[3] % 2 == 0:
        return _grad_weight_polyphase(go, x, k, padding)
    return _onednn_grad(go, x, w, padding, dilation, [False, True, False])[1]


def _onednn_grad(go, x, w, padding, dilation, mask):
    return _conv_backward(go, x, w, None, [1, 1], [padding] * 2, [dilation] * 2, False, [0, 0], x.shape[1], mask)


def _grad_weight_5x5(go: torch.Tensor, x: torch.Tensor, padding: int) -> torch.Tensor:
    """Taps of a stride-1 5x5 kernel from four 3x3 weight gradients at offsets 0 and 2
    (oneDNN's 3x3 depthwise weight gradient is several times faster than its 5x5 one)."""
    c = x.shape[1]
    xp = F.pad(x, (padding,) * 4)
    h, w = go.shape[2] + 2, go.shape[3] + 2
    w3 = x.new_empty(c, 1, 3, 3)

    def piece(a: int, b: int) -> torch.Tensor:
        return _onednn_grad(go, xp[:, :, a:a + h, b:b + w], w3, 0, 1, [False, True, False])[1]

    top = torch.cat([piece(0, 0), piece(0, 2)[..., 1:]], dim=3)  # rows 0-2, columns 0-4
    bottom = torch.cat([piece(2, 0), piece(2, 2)[..., 1:]], dim=3)  # rows 2-4
    return torch.cat([top, bottom[:, :, 1:]], dim=2)


def _grad_weight_polyphase(go: torch.Tensor, x: torch.Tensor, k: int, padding: int) -> torch.Tensor:
    """Dilation 2: output pixel (2a+p, 2b+q) reads only phase (p, q) of the padded input, with an
    undilated kernel; the four phases are stacked along the batch (oneDNN's dilated weight
    gradient is up to 10x slower on small images)."""
    xp = F.pad(x, (padding,) * 4)
    n, m = go.shape[2] // 2, go.shape[3] // 2
    layout = _layout(x)
    phases = [(p, q) for p in (0, 1) for q in (0, 1)]
    xs = torch.cat([xp[:, :, p::2, q::2][:, :, : n + k - 1, : m + k - 1] for p, q in phases]).contiguous(memory_format=layout)
    gs = torch.cat([go[:, :, p::2, q::2] for p, q in phases]).contiguous(memory_format=layout)
    if k == 5:
        return _grad_weight_5x5(gs, xs, 0)
    return _onednn_grad(gs, xs, x.new_empty(x.shape[1], 1, k, k), 0, 1, [False, True, False])[1]
