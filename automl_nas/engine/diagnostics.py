"""Optional, costlier collapse diagnostics."""

from __future__ import annotations

import torch


def dominant_hessian_eigenvalue(search, iterations: int = 10) -> float:
    """Power iteration on the Hessian of the validation loss w.r.t. the architecture
    parameters (one validation batch, Hessian-vector products by double backward)."""
    run = search.run
    params = list(run.params.values())
    x, y = next(search.arch_loader.epoch(0))
    loss, _, _ = search.loss("arch", x, y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [torch.randn_like(p) for p in params]
    eig = 0.0
    for _ in range(iterations):
        norm = torch.sqrt(sum((t * t).sum() for t in v))
        v = [t / norm for t in v]
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        eig = float(sum((a * b).sum() for a, b in zip(hv, v)))
        v = [t.detach() for t in hv]
    return eig
