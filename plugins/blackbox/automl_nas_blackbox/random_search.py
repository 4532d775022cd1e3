"""Random search: each edge's op drawn uniformly (NAS-Bench-201's "RS" baseline,
AutoDL-Projects ``exps/NAS-Bench-201-algos/RANDOM.py``); repeats are allowed, as there."""

from __future__ import annotations

import random
from typing import Any

from automl_nas.api.sampler import Proposer
from automl_nas_blackbox.encoding import Encoding

__all__ = ["RandomSearch"]


class RandomSearch(Proposer):
    name = "random"

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def setup(self, space: Any, seed: int) -> None:
        self.space, self.enc, self.rng = space, Encoding.of(space), random.Random(seed)

    def ask(self) -> Any:
        return self.space.from_ops(self.enc.random(self.rng))

    def tell(self, genotype: Any, value: float) -> None:
        pass  # memoryless
