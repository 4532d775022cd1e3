"""Regularized (aging) evolution: Real et al., "Regularized Evolution for Image
Classifier Architecture Search", AAAI 2019, arXiv:1802.01548, Algorithm 1, as run
by NAS-Bench-201 (AutoDL-Projects ``exps/NAS-Bench-201-algos/R_EA.py``: P = 10,
S = 3, tournament drawn with replacement, mutation = one edge to another op).

Ask/tell adaptation (deviation, needed for parallel evaluation): the first P asks
are random; later asks mutate the tournament winner of the population as told
so far, so several children can be outstanding. Sequentially it is Algorithm 1.
"""

from __future__ import annotations

import collections
import random
from typing import Any

from automl_nas.api.sampler import Proposer
from automl_nas_blackbox.config import ReaConfig
from automl_nas_blackbox.encoding import Encoding

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Proposer):
    name = "rea"

    def __init__(self, config: ReaConfig | None = None) -> None:
        self.config = config or ReaConfig()

    def setup(self, space: Any, seed: int) -> None:
        self.space, self.enc, self.rng = space, Encoding.of(space), random.Random(seed)
        self.population: collections.deque[tuple[tuple[int, ...], float]] = collections.deque()
        self.asked = 0

    def ask(self) -> Any:
        self.asked += 1
        if self.asked <= self.config.population or not self.population:
            return self.space.from_ops(self.enc.random(self.rng))
        sample = [self.rng.choice(self.population) for _ in range(self.config.sample)]
        parent = max(sample, key=lambda member: member[1])[0]
        return self.space.from_ops(self.enc.mutate(parent, self.rng, by_node=self.config.mutation == "node"))

    def tell(self, genotype: Any, value: float) -> None:
        self.population.append((tuple(self.space.to_ops(genotype)), float(value)))
        if len(self.population) > self.config.population:
            self.population.popleft()  # aging: the oldest dies, not the worst
