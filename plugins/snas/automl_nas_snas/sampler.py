"""SNAS: Stochastic Neural Architecture Search (Xie, Zheng, Liu, Lin; ICLR 2019, arXiv:1812.09926).

Official code followed: SNAS-Series ``SNAS/model_search.py`` (``_get_categ_mask``, ``logp``),
``SNAS/train_search.py`` and ``SNAS/utils.py`` (temperature); spec: algorithms.md §5.

* Sample: Z_e = softmax((a_e + g_e) / lambda) per edge, g ~ Gumbel(0, 1) from
  ``torch.rand`` (soft, no straight-through), one draw per forward pass and group,
  also in the evaluation phase (SNAS validates with sampled architectures).
* ``probs`` = softmax(a); the genotype is derived from ``a`` (spec §11.7).
* ``init_params`` = N(1, 0.01) (``--loc_mean 1 --loc_std 0.01``, spec §3).
* :meth:`SnasSampler.log_density` is the Concrete log-density of §5.1 with the code's 1e-4 floors.

Deviations: the uniform draw is clamped to [tiny, 1 - eps] so g is always finite
(the code can produce inf with probability ~1e-7 in float32); single-level training
is the engine's ``search.mode``, not a sampler option.
"""

from __future__ import annotations

import math

import torch

from automl_nas.api import EdgeWeights, Sampler, TemperatureSchedule

from automl_nas_snas.config import SnasConfig

__all__ = ["SnasSampler", "concrete_log_density"]


def concrete_log_density(z: torch.Tensor, logits: torch.Tensor, temperature: float, floor: float = 1e-4) -> torch.Tensor:
    """log q(Z | a, lambda) of the Concrete distribution, per row (last axis = ops).

    ``log((K-1)!) + (K-1) log l + sum_k a_k - (l+1) sum_k log Z_k - K log sum_k exp(a_k) Z_k^-l``,
    with Z and each term of the last sum floored at ``floor`` as in SNAS' ``logp``
    (``floor = 0`` gives the exact density). Invariant to ``a -> a + c`` while no
    term of the last sum hits the floor.
    """
    k = logits.shape[-1]
    log_z = (z.clamp_min(floor) if floor > 0 else z).log()
    log_terms = logits - temperature * log_z  # log(exp(a_k) * Z_k^-lambda), summed stably below
    if floor > 0:
        log_terms = log_terms.clamp_min(math.log(floor))
    return (
        math.lgamma(k)
        + (k - 1) * math.log(temperature)
        + logits.sum(-1)
        - (temperature + 1) * log_z.sum(-1)
        - k * torch.logsumexp(log_terms, dim=-1)
    )


class SnasSampler(TemperatureSchedule, Sampler):
    """Relaxed one-hot (Concrete) sample of every edge, temperature annealed per epoch.

    Example:
        >>> s = SnasSampler(SnasConfig())
        >>> s.set_epoch(0, 150); round(s.temperature, 7)
        0.9935333
        >>> z = s.sample({"normal": torch.zeros(14, 8)}, phase="weights")["normal"].weights
        >>> z.shape
        torch.Size([14, 8])
    """

    name = "snas"

    def __init__(self, config: SnasConfig | None = None) -> None:
        self.config = config if config is not None else SnasConfig()
        self.temperature = float(self.config.temperature.start)  # until the engine calls set_epoch

    def init_params(self, groups, generator=None):
        return {g.name: 1.0 + 0.01 * torch.randn(g.shape, generator=generator) for g in groups}

    # The noise is drawn in two small methods so tests can fix U (spec §10.4.1).
    def uniform(self, like: torch.Tensor) -> torch.Tensor:
        """U ~ Uniform(0, 1) of ``like``'s shape, clamped away from 0 and 1."""
        info = torch.finfo(like.dtype)
        return torch.rand_like(like).clamp_(info.tiny, 1.0 - info.eps)

    def gumbel(self, like: torch.Tensor) -> torch.Tensor:
        """g = -log(-log U), i.i.d. Gumbel(0, 1)."""
        return -torch.log(-torch.log(self.uniform(like)))

    def relax(self, logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Z = softmax((a + g) / lambda) row-wise."""
        return torch.softmax((logits + noise) / self.temperature, dim=-1)

    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        return {group: EdgeWeights(weights=self.relax(a, self.gumbel(a.detach()))) for group, a in params.items()}

    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {group: torch.softmax(a, dim=-1) for group, a in params.items()}

    def log_density(self, z: torch.Tensor, logits: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """Concrete log q(Z | a, lambda) per edge (1e-4 floors); lambda defaults to the current one."""
        return concrete_log_density(z, logits, self.temperature if temperature is None else temperature)
