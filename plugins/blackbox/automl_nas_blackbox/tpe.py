"""Optuna's TPE (Bergstra et al., NeurIPS 2011; ``optuna.samplers.TPESampler``) over the
op-index encoding: one categorical parameter ``edge<i>`` per position.

An in-memory study per proposer; asks may be outstanding, and ``tell`` matches
the genotype to the oldest outstanding trial that proposed it.
"""

from __future__ import annotations

from typing import Any

import optuna

from automl_nas.api.sampler import Proposer
from automl_nas_blackbox.config import TpeConfig
from automl_nas_blackbox.encoding import Encoding

__all__ = ["TpeProposer"]


class TpeProposer(Proposer):
    name = "tpe"

    def __init__(self, config: TpeConfig | None = None) -> None:
        self.config = config or TpeConfig()

    def setup(self, space: Any, seed: int) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space, self.enc = space, Encoding.of(space)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.config.startup,
                                             multivariate=self.config.multivariate)
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.pending: dict[tuple[int, ...], list[Any]] = {}

    def ask(self) -> Any:
        trial = self.study.ask()
        ops = tuple(trial.suggest_categorical(f"edge{i}", list(range(k))) for i, k in enumerate(self.enc.choices))
        self.pending.setdefault(ops, []).append(trial)
        return self.space.from_ops(ops)

    def tell(self, genotype: Any, value: float) -> None:
        ops = tuple(self.space.to_ops(genotype))
        self.study.tell(self.pending[ops].pop(0), float(value))
