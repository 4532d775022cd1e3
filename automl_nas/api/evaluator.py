"""Evaluators: a genotype in, metrics out (table lookup, retraining, proxies)."""

from __future__ import annotations

import abc
import sys
from typing import Any

import attrs

from automl_nas.api.arch import Genotype


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


@attrs.define(kw_only=True)
class EvalContext:
    """What an evaluator may need beyond the genotype.

    Attributes:
        space: the :class:`~automl_nas.api.SearchSpace` instance.
        data: the run's :class:`~automl_nas.api.ImageSet` or ``None`` (lookups need none).
        device: torch device string.
        seed: the run's seed.
        run_dir: where artefacts may be written, or ``None``.
        log: a ``callable(str)`` for progress lines (default: standard error; a library
            call writes nothing to standard output).
    """

    space: Any
    data: Any = None
    device: str = "cpu"
    seed: int = 0
    run_dir: Any = None
    log: Any = attrs.field(factory=lambda: _to_stderr)


class Evaluator(abc.ABC):
    """Scores genotypes. ``metrics`` declares the keys :meth:`evaluate` returns;
    ``higher_is_better`` says how to rank by the first one."""

    name: str = ""
    metrics: tuple[str, ...] = ()
    higher_is_better: bool = True

    def check(self, space: Any, data: Any) -> None:
        """Raise an :class:`~automl_nas.errors.AutomlError` naming the fix if this evaluator cannot
        score genotypes of ``space`` (the built search space) with ``data`` (the loaded
        :class:`~automl_nas.api.ImageSet` or :class:`~automl_nas.api.GraphSet`, or ``None``).

        **When it runs:** once per run, search or evaluation, after the components are built and
        the data is loaded, before the run directory exists and before the first step; a
        mismatch (a table of another space, an image trainer given a graph) otherwise surfaced
        only after the whole search. Also from ``automl eval --check`` with ``data=None`` when the
        recipe's data set is not downloaded yet: check the options first, and raise a
        :class:`~automl_nas.errors.DataError` for what needs the data (that one is not reported
        then). Default: no check.

        .. versionadded:: 0.1
        """

    def source(self) -> dict[str, Any]:
        """What this evaluator answers from, for the run's records: a table's origin and checksum
        (``{"table": "nb201", "source": ..., "source_sha256": ..., "rows": ...}``); JSON values.

        **When it runs:** once per run, after :meth:`check`, before the first step, and again when
        the run is resumed; the host records it in the run's ``env.json`` (a resume whose answer
        differs is warned of and added to ``evaluator_source_resumed``; a black-box search's and
        an evaluation's go into their ``result.json``). An evaluator that answers from data which may change while it runs
        (an installed table another command re-imports) pins what it read here and answers from
        it for its life, so the record says what every answer came from. Default: ``{}``.

        .. versionadded:: 0.3
        """
        return {}

    @abc.abstractmethod
    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        """Metrics of ``genotype``; every key of :attr:`metrics` must be present."""
