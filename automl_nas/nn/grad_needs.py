"""Which inputs of a custom autograd Function the running backward actually wants (issue 15).

``ctx.needs_input_grad`` says which inputs *require* grad, fixed when the forward ran. A backward
restricted to some leaves (``loss.backward(inputs=alphas)``: every first-order architecture step)
still sees True for the network weights, and a Function that trusts it computes weight gradients
the engine then drops. Built-in nodes avoid that through the engine's execution info, which
:func:`wanted_grads` reads for custom ones. Measured: the DARTS-space arch step computed every
depthwise weight gradient of its separable and dilated convs for nothing (1844 -> 1278 ms).
"""

from __future__ import annotations

import torch
from torch.autograd.function import BackwardCFunction, FunctionCtx

__all__ = ["record_inputs", "wanted_grads"]


def record_inputs(ctx: FunctionCtx, *args: object) -> None:
    """Call in ``forward`` with the Function's arguments, in order (``ctx.next_functions`` has an
    entry per tensor argument only, so :func:`wanted_grads` needs to know which ones were tensors)."""
    ctx.tensor_inputs = tuple(isinstance(a, torch.Tensor) for a in args)


def wanted_grads(ctx: BackwardCFunction) -> tuple[bool, ...]:
    """Per forward argument: whether the backward now running needs its gradient.

    Call it inside ``backward`` of a Function whose ``forward`` called :func:`record_inputs`.
    True where the argument requires grad and the engine will run the node its gradient flows
    into (without an ``inputs=`` restriction: every such node).
    """
    nodes = iter(ctx.next_functions)
    wanted = []
    for is_tensor, needs in zip(ctx.tensor_inputs, ctx.needs_input_grad):
        node = next(nodes)[0] if is_tensor else None
        wanted.append(bool(needs) and node is not None and _will_run(node))
    return tuple(wanted)


def _will_run(node: torch.autograd.graph.Node) -> bool:
    try:
        return torch._C._will_engine_execute_node(node)
    except RuntimeError:  # torch.autograd.grad() refuses to answer for the node of a leaf it was asked for
        return True
