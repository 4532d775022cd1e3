"""The backward pieces the batch-norm autograd Functions share (issue 15).

The folded and the global batch norm keep their statistics out of autograd. Both compute a
closed-form first-order backward from two per-channel sums (:func:`input_grad_coefficients`);
a backward under ``create_graph`` (a second derivative) needs the statistics as functions of
the input, so it recomputes the forward in differentiable operations and differentiates that
instead (:func:`recomputed_batch_norm_grads`).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["input_grad_coefficients", "recomputed_batch_norm_grads"]

def input_grad_coefficients(mean: torch.Tensor, invstd: torch.Tensor, weight: torch.Tensor | None,
                            sum_g: torch.Tensor, dot_invstd: torch.Tensor, count: torch.Tensor | int
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, a, b)`` with ``dx = g * scale + x * a + b`` (two multiply-add passes).

    ``sum_g`` is ``sum(g)`` and ``dot_invstd`` is ``sum(g * (x - mean)) * invstd`` over the
    ``count`` values that were normalised together (for the global batch norm: all processes').
    From ``dx = (g - sum_g / M - (x - mean) * invstd^2 * dot / M) * scale``.
    """
    scale = invstd if weight is None else invstd * weight.to(invstd.dtype)
    a = -dot_invstd * invstd * scale / count
    b = -mean * a - sum_g * scale / count
    return scale, a, b


# (x, weight or None, bias or None) -> the Function's output, in differentiable operations
BatchNorm = Callable[[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]


def recomputed_batch_norm_grads(ctx, x: torch.Tensor, weight: torch.Tensor | None, grad: torch.Tensor,
                                batch_norm: BatchNorm) -> tuple:
    """Input, weight and bias gradients (``None`` where not needed) with their own graph.

    Call from ``backward`` of a Function whose first three inputs are ``x, weight, bias`` and
    whose ``ctx.has_bias`` says whether a bias was given (the bias enters the output additively,
    so a zero bias stands in for it).
    """
    inputs = [t if t is None or t.requires_grad else t.detach().requires_grad_() for t in (x, weight)]
    bias = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device, requires_grad=True) if ctx.has_bias else None
    y = batch_norm(inputs[0], inputs[1], bias)
    wanted = [(i, t) for i, t in enumerate((*inputs, bias)) if t is not None and ctx.needs_input_grad[i]]
    grads = torch.autograd.grad(y, [t for _, t in wanted], grad, create_graph=True) if wanted else ()
    out: list[torch.Tensor | None] = [None, None, None]
    for (i, _), g in zip(wanted, grads):
        out[i] = g
    return tuple(out)
