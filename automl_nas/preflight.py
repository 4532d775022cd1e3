"""Before the first step: can the evaluator answer, and is the data there (issue 13)?

A component's *config* may implement :class:`Preflight`; :func:`preflight` calls it for the
plan's evaluator and data set. The checks read manifests and look at files only -- no
torch, no data loading -- so ``automl validate`` runs them within its 2-second budget and
``run``/``study``/``search``/``eval`` refuse a doomed recipe before any search step.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from automl_nas.errors import AutomlError

__all__ = ["EpochsCheck", "Preflight", "SpaceCheck", "preflight", "preflight_config"]


@runtime_checkable
class Preflight(Protocol):
    """A component config that can check its component's resources before a run."""

    def preflight(self, component: str) -> None:
        """Raise an :class:`~automl_nas.errors.AutomlError` naming the fix if ``component``
        (the name the recipe chose) could not work with these options."""


@runtime_checkable
class SpaceCheck(Protocol):
    """A sampler, objective or evaluator config whose options constrain the search space's (DrNAS'
    progressive partial channels need a partial-channel supernet whose channels each stage's K
    divides; a latency table was measured for one space configuration; a benchmark table covers
    some of the space's ops).

    **When it runs:** once per recipe, at plan time (``automl validate``, ``run``, ``study``),
    after both configs are structured and before anything is built; torch is not imported.
    """

    def check_space(self, space: str, options: Any) -> None:
        """Raise ``ValueError`` naming the clash and the keys that fix it if this component cannot
        serve ``space`` (the recipe's space name) built with ``options`` (its structured config,
        ``None`` for a space without options)."""


@runtime_checkable
class EpochsCheck(Protocol):
    """A sampler config whose own schedule is laid out in epochs (DrNAS' progressive stages),
    which a search of another length would cut short or never reach.

    **When it runs:** once per recipe, at plan time, right after :class:`SpaceCheck`, with the
    recipe's ``search.epochs`` (overrides and profiles applied); torch is not imported.
    """

    def check_epochs(self, epochs: int) -> None:
        """Raise ``ValueError`` naming the clash and the keys that fix it if a search of ``epochs``
        epochs could not carry out this sampler's schedule."""


def preflight_config(config: Any, component: str, *, where: str) -> None:
    """Run one config's check; its error is re-raised with ``where`` (``file: key``) in front."""
    if not isinstance(config, Preflight):
        return
    try:
        config.preflight(component)
    except AutomlError as exc:
        raise type(exc)(f"{where}: {exc.message}", hint=exc.hint) from None


def preflight(plan: Any) -> None:
    """Check ``plan.evaluator`` and ``plan.dataset`` (either may be absent or ``None``).

    All problems are reported together, under the first problem's error class.
    """
    problems: list[AutomlError] = []
    for resolved in (getattr(plan, "evaluator", None), getattr(plan, "dataset", None)):
        if resolved is None:
            continue
        try:
            preflight_config(resolved.config, resolved.component.name, where=f"{plan.source}: {resolved.key}")
        except AutomlError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        hints = "; ".join(p.hint for p in problems if p.hint)
        raise type(problems[0])("\n".join(p.message for p in problems), hint=hints or None)
