"""DARTS' second-order architecture gradient (spec §4, steps 1-4; pitfall §11.12).

The virtual step uses xi = the current weight lr and includes momentum and
weight decay; the Hessian-vector product is a central finite difference with
eps = 0.01 / ||v||; the weights are restored bit-exactly afterwards.

With a sampling distribution (DrNAS' ``--unrolled``, §7.2) every loss here draws its own sample,
the two finite-difference passes included, as DrNAS' ``architect.py`` does (each ``_loss`` call
samples). One shared sample would lower the variance of h, but would no longer be the reference
step; GDAS and SNAS have no reference second order at all.
"""

from __future__ import annotations

import torch


def unrolled_arch_grad(search, x_arch, y_arch, x_train, y_train) -> tuple[torch.Tensor, list[torch.Tensor]]:
    run = search.run
    opt = run.weight_optimizer
    group = opt.param_groups[0]
    xi, mu, wd = group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)
    weights = [p for p in run.supernet.parameters() if p.requires_grad]
    params = list(run.params.values())
    backup = [w.detach().clone() for w in weights]

    # 1. virtual step w' = w - xi * (mu * m + grad L_train(w) + wd * w)
    loss_t, _, _ = search.loss("weights", x_train, y_train)
    grads = torch.autograd.grad(loss_t, weights, allow_unused=True)
    # Data parallel: each rank holds its slice's gradient; the virtual step takes the whole batch's.
    grads = search.world.mean([g if g is not None else torch.zeros_like(w) for g, w in zip(grads, weights)])
    with torch.no_grad():
        for w, g in zip(weights, grads):
            m = opt.state.get(w, {}).get("momentum_buffer")
            d = g + wd * w
            if m is not None:
                d = d + mu * m
            w.sub_(xi * d)
    # 2. gradients of the validation loss at w'
    loss_v, _, _ = search.loss("arch", x_arch, y_arch)
    g_all = torch.autograd.grad(loss_v, weights + params, allow_unused=True)
    # ... and v (the direction of the Hessian-vector product) is the whole batch's too
    g_all = search.world.mean([g if g is not None else torch.zeros_like(t) for g, t in zip(g_all, weights + params)])
    v, a = g_all[: len(weights)], g_all[len(weights):]
    # 3. finite-difference Hessian-vector product around the ORIGINAL w
    norm = torch.sqrt(sum((t * t).sum() for t in v))
    eps = 0.01 / norm
    h = finite_difference_hvp(search, weights, params, backup, v, eps, x_train, y_train)
    with torch.no_grad():
        for w, b in zip(weights, backup):
            w.copy_(b)
    return loss_v.detach(), [ai - xi * hi for ai, hi in zip(a, h)]


def finite_difference_hvp(search, weights, params, base, v, eps, x, y) -> list[torch.Tensor]:
    """``[grad_a L_train(w + eps v) - grad_a L_train(w - eps v)] / (2 eps)``."""
    out = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for w, b, d in zip(weights, base, v):
                w.copy_(b + sign * eps * d)
        loss, _, _ = search.loss("weights", x, y)
        g = torch.autograd.grad(loss, params, allow_unused=True)
        out.append([gi if gi is not None else torch.zeros_like(p) for gi, p in zip(g, params)])
    return [(gp - gm) / (2 * eps) for gp, gm in zip(*out)]
