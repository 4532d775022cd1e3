"""Evaluators: a genotype in, metrics out (table lookup, retraining, proxies)."""

from __future__ import annotations

import abc
from typing import Any

import attrs

from automl_nas.api.arch import Genotype


@attrs.define(kw_only=True)
class EvalContext:
    """What an evaluator may need beyond the genotype.

    Attributes:
        space: the :class:`~automl_nas.api.SearchSpace` instance.
        data: the run's :class:`~automl_nas.api.ImageSet` or ``None`` (lookups need none).
        device: torch device string.
        seed: the run's seed.
        run_dir: where artefacts may be written, or ``None``.
        log: a ``callable(str)`` for progress lines.
    """

    space: Any
    data: Any = None
    device: str = "cpu"
    seed: int = 0
    run_dir: Any = None
    log: Any = print


class Evaluator(abc.ABC):
    """Scores genotypes. ``metrics`` declares the keys :meth:`evaluate` returns;
    ``higher_is_better`` says how to rank by the first one."""

    name: str = ""
    metrics: tuple[str, ...] = ()
    higher_is_better: bool = True

    @abc.abstractmethod
    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        """Metrics of ``genotype``; every key of :attr:`metrics` must be present."""
