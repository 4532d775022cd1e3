"""DARTS: Differentiable Architecture Search (Liu, Simonyan, Yang; ICLR 2019, arXiv:1806.09055).

Official code followed through its copies in SNAS-Series (``Analysis/darts/cnn``) and
AutoDL-Projects (``DARTS-V1.py``/``DARTS-V2.py``); spec: algorithms.md §4.

Mixed edge = sum_k softmax(alpha_e)_k * o_k(x), the same weights in every phase
(weights step, architecture step, evaluation). Parameters start at 1e-3 * N(0, 1)
(the :class:`~automl_nas.api.Sampler` default, spec §3). First/second order and the
update order belong to the engine. Deviations: none.
"""

from __future__ import annotations

import torch

from automl_nas.api import EdgeWeights, Sampler

from automl_nas_darts.config import DartsConfig

__all__ = ["DartsSampler"]


class DartsSampler(Sampler):
    """Deterministic softmax relaxation: ``sample == probs`` for every phase.

    Example:
        >>> s = DartsSampler(DartsConfig())
        >>> w = s.sample({"cell": torch.zeros(6, 5)}, phase="weights")["cell"].weights
        >>> round(float(w[0, 0]), 6)
        0.2
    """

    name = "darts"

    def __init__(self, config: DartsConfig | None = None) -> None:
        self.config = config if config is not None else DartsConfig()

    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        return {group: EdgeWeights(weights=p) for group, p in self.probs(params).items()}

    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {group: torch.softmax(alpha, dim=-1) for group, alpha in params.items()}
