"""Exact fusions for supernet cells (issue 8): the building blocks of the spaces' fast paths.

In a search cell every edge leaving a node reads the same tensor, the ops are ReLU-Conv-BN with
batch statistics, and BN is per channel. So the convolutions of all those edges (same kernel,
stride, padding) are ONE convolution over the concatenated weights, one ReLU and one BN call
serve them all, and the outputs are split afterwards. The mixing weight of an edge's op,
``w * BN(y)``, is folded into BN's per-channel scale (``gamma = w``), so the weight costs
neither a pass over the tensor nor, in the backward, more than BN computes anyway. Results equal
the per-edge ops to float rounding (forward and gradients). The per-edge modules stay the
parameter holders, so state_dict keys and shapes, checkpoints and DrNAS widening are untouched.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from automl_nas.nn.mixed_op import channel_shuffle

__all__ = ["batch_norm_group", "concat_shuffle", "relu_conv_bn_group", "weighted_sum"]


def _bn_key(bn: nn.BatchNorm2d) -> tuple:
    return (bn.eps, bn.momentum, bn.affine, bn.running_mean is not None, bn.training)


def batch_norm_group(y: torch.Tensor, bns: Sequence[nn.BatchNorm2d], scale: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``[s_i * bn_i(y_i)]`` for the channel blocks ``y_i`` of ``y`` (block i has ``bns[i].num_features`` channels).

    ``scale`` is an optional per-channel multiplier (all channels of ``y``); it becomes BN's
    affine scale, so it is free. One ``batch_norm`` call over all channels; running
    statistics, when tracked, are updated in every module exactly as its own forward would
    (copy-back of the concatenated buffers, ``num_batches_tracked`` incremented).
    """
    sizes = [bn.num_features for bn in bns]
    bn0 = bns[0]
    if bn0.momentum is None or any(_bn_key(bn) != _bn_key(bn0) for bn in bns[1:]):
        # Cumulative averages depend on each module's own count: run them one by one.
        out = torch.cat([bn(part) for bn, part in zip(bns, y.split(sizes, dim=1))], dim=1)
        if scale is not None:
            out = out * scale.view(1, -1, 1, 1)
        return list(out.split(sizes, dim=1))
    one = len(bns) == 1
    tracked = bn0.running_mean is not None
    mean = var = weight = bias = None
    if tracked:
        mean = bn0.running_mean if one else torch.cat([bn.running_mean for bn in bns])
        var = bn0.running_var if one else torch.cat([bn.running_var for bn in bns])
    if bn0.affine:
        weight = bn0.weight if one else torch.cat([bn.weight for bn in bns])
        bias = bn0.bias if one else torch.cat([bn.bias for bn in bns])
    if scale is not None:  # s * (xhat * gamma + beta) = xhat * (gamma * s) + beta * s
        weight = scale if weight is None else weight * scale
        bias = None if bias is None else bias * scale
    out = F.batch_norm(y, mean, var, weight, bias, bn0.training or not tracked, bn0.momentum, bn0.eps)
    if tracked and bn0.training:
        with torch.no_grad():
            if not one:  # F.batch_norm updated the concatenated copies
                torch._foreach_copy_([t for bn in bns for t in (bn.running_mean, bn.running_var)],
                                     [t for pair in zip(mean.split(sizes), var.split(sizes)) for t in pair])
            torch._foreach_add_([bn.num_batches_tracked for bn in bns], 1)
    return list(out.split(sizes, dim=1)) if not one else [out]


def _same_conv(conv: nn.Conv2d) -> bool:
    """A stride-1, dense, 'same'-padded square conv: smaller ones embed in a larger kernel exactly."""
    k = conv.kernel_size
    return (k[0] == k[1] and k[0] % 2 == 1 and conv.stride == (1, 1) and conv.dilation == (1, 1)
            and conv.groups == 1 and conv.padding == (k[0] // 2, k[0] // 2) and conv.padding_mode == "zeros")


def relu_conv_bn_group(x: torch.Tensor, blocks: Sequence[nn.Sequential], *, relu: torch.Tensor | None = None,
                       scale: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``[s_i * block_i(x)]`` for ReLU -> Conv2d -> BatchNorm2d blocks of equal conv geometry.

    Blocks may also mix kernel sizes of 'same' convolutions (stride 1, padding k // 2): the
    smaller kernels are zero-padded to the largest, which adds only exact zeros.
    ``relu`` is ``relu(x)`` when the caller already has it (shared by all edges of a node);
    ``scale`` the optional per-channel multiplier of :func:`batch_norm_group`.
    """
    convs = [b[1] for b in blocks]
    sizes = {c.kernel_size for c in convs}
    c0 = max(convs, key=lambda c: c.kernel_size[0])
    if len(sizes) > 1 and not all(_same_conv(c) for c in convs):
        raise ValueError(f"cannot group convolutions of kernel sizes {sorted(sizes)} unless all are 'same' convolutions")
    r = torch.relu(x) if relu is None else relu
    k = c0.kernel_size[0]
    weights = [c.weight if c.kernel_size[0] == k else F.pad(c.weight, [(k - c.kernel_size[0]) // 2] * 4) for c in convs]
    weight = weights[0] if len(weights) == 1 else torch.cat(weights)
    bias = None
    if c0.bias is not None:
        bias = c0.bias if len(convs) == 1 else torch.cat([c.bias for c in convs])
    y = F.conv2d(r, weight, bias, c0.stride, c0.padding, c0.dilation, c0.groups)
    return batch_norm_group(y, [b[2] for b in blocks], scale)


def weighted_sum(terms: Sequence[tuple[torch.Tensor, torch.Tensor | None]], like: torch.Tensor) -> torch.Tensor:
    """``sum_t w_t * x_t`` for ``(x_t, w_t)`` pairs; ``w_t`` is a tensor broadcastable to ``x_t``
    (a 0-dim mixing weight: no host sync; or a small map such as a pool's ``1 / count`` times
    the weight) or ``None`` for a term already weighted (e.g. by :func:`relu_conv_bn_group`'s
    ``scale``).

    One pass per term into a fresh accumulator; autograd computes a weight's gradient only
    when it is asked for (a custom autograd node with a one-pass weight gradient measured no
    faster). With no terms the result is zeros shaped like ``like``.
    """
    if not terms:
        return torch.zeros_like(like)
    ready = [x for x, w in terms if w is None]
    weighted = [(x, w) for x, w in terms if w is not None]
    if weighted:
        x0, w0 = weighted.pop(0)
        out = x0 * w0
    elif len(ready) == 1:
        return ready[0]
    else:
        out = ready.pop(0) + ready.pop(0)
    for x in ready:
        out = out.add_(x)
    for x, w in weighted:
        out = out.addcmul_(x, w)
    return out


def concat_shuffle(head: torch.Tensor, rest: torch.Tensor, groups: int) -> torch.Tensor:
    """``channel_shuffle(cat([head, rest], 1), groups)``; channels-last inputs stay channels-last.

    Channel ``g * part + r`` of the concatenation goes to ``r * groups + g`` (spec §7.3), i.e.
    the NHWC result is the ``groups`` pieces stacked along a new last axis: one copy. (The
    plain reshape-based shuffle copies twice and returns NCHW, which would drop the network
    out of channels-last.) NCHW inputs take the plain route.
    """
    if head.stride(1) != 1:  # channels are not the innermost dimension: NCHW
        return channel_shuffle(torch.cat([head, rest], dim=1), groups)
    b, part, h, w = head.shape
    pieces = [head, *rest.split(part, dim=1)]
    nhwc = torch.stack([p.permute(0, 2, 3, 1) for p in pieces], dim=-1)  # (b, h, w, part, groups)
    return nhwc.view(b, h, w, part * groups).permute(0, 3, 1, 2)
