"""Collapse diagnostics (spec §11.1): what the derived cell is made of, how sure the
distribution is, and (optionally) the dominant Hessian eigenvalue. Op names come from the
space's declared op traits (:class:`automl_nas.api.GroupSpec`), never from this module."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import torch

if TYPE_CHECKING:
    from automl_nas.api import Genotype, SearchSpace


@attrs.frozen(kw_only=True)
class Collapse:
    param_free_ops: int | None  # None: the space declares no op traits or cannot count choices
    skip_fraction: float | None
    entropy: dict[str, float]  # group -> mean edge entropy
    edge_entropy: dict[str, list[float]]


def collapse_diagnostics(space: SearchSpace, genotype: Genotype, probs: dict[str, torch.Tensor]) -> Collapse:
    """Parameter-free ops and the skip fraction among the chosen (non-zero) ops of
    ``genotype``, from ``space.genotype_choices``; per-edge entropies of ``probs``."""
    param_free, skip_fraction = _composition(space, genotype)
    entropy, edge_entropy = {}, {}
    for group, p in probs.items():
        p = p.detach().double().clamp_min(1e-12)
        ent = -(p * p.log()).sum(-1)
        edge_entropy[group] = [round(float(e), 6) for e in ent]
        entropy[group] = float(ent.mean())
    return Collapse(param_free_ops=param_free, skip_fraction=skip_fraction, entropy=entropy, edge_entropy=edge_entropy)


def _composition(space: SearchSpace, genotype: Genotype) -> tuple[int | None, float | None]:
    # Groups that choose something other than ops (a GNN's link pattern) declare no traits and
    # are not counted; a space that declares none at all has unknown diagnostics.
    groups = [g for g in space.groups() if g.declares_op_traits]
    if not groups:
        return None, None
    try:
        choices = space.genotype_choices(genotype)
    except NotImplementedError:
        return None, None
    chosen = param_free = skips = 0
    for g in groups:
        counts = choices[g.name].sum(0)  # uses of each op over the group's edges
        for op, n in zip(g.ops, counts.tolist()):
            if op in g.zero_ops:
                continue
            chosen += n
            param_free += n if op in g.param_free_ops else 0
            skips += n if op in g.skip_ops else 0
    return int(param_free), skips / max(chosen, 1)


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
