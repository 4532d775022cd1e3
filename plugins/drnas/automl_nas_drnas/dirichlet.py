"""DrNAS' concentration map and the closed-form Dirichlet KL anchor (spec §7.1, §7.2)."""

from __future__ import annotations

import math

import torch

__all__ = ["concentration", "kl_to_uniform"]


def concentration(eta: torch.Tensor) -> torch.Tensor:
    """beta = ELU(eta) + 1 > 0 (beta = eta + 1 for eta > 0, e^eta otherwise).

    Written with the two branches because ``F.elu(eta) + 1`` rounds to exactly 0 for
    eta below about -37 (float64) / -17 (float32), where e^eta is still > 0.
    """
    positive = eta > 0
    # where() rather than clamp: clamp_max passes no gradient at eta == 0 exactly (pruned rows).
    return torch.where(positive, eta + 1.0, torch.exp(torch.where(positive, torch.zeros_like(eta), eta)))


def kl_to_uniform(beta: torch.Tensor) -> torch.Tensor:
    """KL(Dir(beta_e) || Dir(1)) per row (last axis = ops).

    ``log G(sum b) - sum log G(b_k) - log G(K) + sum (b_k - 1)(psi(b_k) - psi(sum b))``.
    """
    total = beta.sum(-1)
    k = beta.shape[-1]
    return (
        torch.lgamma(total)
        - torch.lgamma(beta).sum(-1)
        - math.lgamma(k)
        + ((beta - 1.0) * (torch.digamma(beta) - torch.digamma(total).unsqueeze(-1))).sum(-1)
    )
