"""REINFORCE (Williams 1992) over per-edge categorical logits, as NAS-Bench-201 runs it
(AutoDL-Projects ``exps/NAS-Bench-201-algos/reinforce.py``): logits ``1e-3 * N(0,1)``,
policy ``softmax`` per edge, Adam, reward = the evaluator's metric, baseline = a
bias-corrected exponential moving average (momentum 0.9) updated *before* the
advantage ``reward - baseline`` is taken, loss ``-log p(a) * advantage``.

Learning rate: the official script's usage line says 0.001
(``scripts-search/NAS-Bench-201-algos/REINFORCE.sh``) while its grid
(``hps/GRID-RL.sh``) sweeps {0.01, 0.02, 0.1, 0.2, 0.5}; the paper's choice could
not be checked here. Default 0.01, the smallest grid value (option ``lr``).

Ask/tell adaptation: ``tell`` recomputes ``log p(a)`` under the current policy, which
is exactly NB201's update when evaluations are sequential.
"""

from __future__ import annotations

import math

from typing import Any

import torch

from automl_nas.api.sampler import Proposer
from automl_nas_blackbox.config import ReinforceConfig
from automl_nas_blackbox.encoding import Encoding

__all__ = ["Reinforce"]


class Reinforce(Proposer):
    name = "reinforce"

    def __init__(self, config: ReinforceConfig | None = None) -> None:
        self.config = config or ReinforceConfig()

    def setup(self, space: Any, seed: int) -> None:
        self.space, self.enc = space, Encoding.of(space)
        self.gen = torch.Generator().manual_seed(seed)
        k = max(self.enc.choices)
        logits = 1e-3 * torch.randn(len(self.enc.choices), k, generator=self.gen, dtype=torch.float64)
        mask = torch.tensor([[j >= n for j in range(k)] for n in self.enc.choices])
        self.mask = mask  # positions with fewer ops than k never sample the padding
        self.logits = torch.nn.Parameter(logits)
        self.optimizer = torch.optim.Adam([self.logits], lr=self.config.lr)
        self._num = self._den = 0.0

    def _log_probs(self) -> torch.Tensor:
        return torch.log_softmax(self.logits.masked_fill(self.mask, float("-inf")), dim=-1)

    def ask(self) -> Any:
        with torch.no_grad():
            probs = self._log_probs().exp()
        ops = torch.multinomial(probs, 1, generator=self.gen).squeeze(1)
        return self.space.from_ops(tuple(int(i) for i in ops))

    def baseline(self) -> float:
        return self._num / self._den

    def tell(self, genotype: Any, value: float) -> None:
        if not math.isfinite(value):
            # an infinite reward (NASWOT's -inf) made the moving baseline infinite for good and every
            # later advantage inf or NaN, so the policy turned NaN; it has no magnitude to learn from
            return
        m = self.config.momentum
        self._num = m * self._num + (1 - m) * value
        self._den = m * self._den + (1 - m)
        ops = torch.tensor(self.space.to_ops(genotype))
        log_prob = self._log_probs().gather(1, ops.view(-1, 1)).sum()
        loss = -log_prob * (value - self.baseline())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def probs(self) -> torch.Tensor:
        with torch.no_grad():
            return self._log_probs().exp()
