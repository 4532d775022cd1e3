"""Loss terms: task losses and resource-aware penalties, combined with weights."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from automl_nas.api.space import InputSpec, SearchSpace
    import torch


@attrs.define(kw_only=True)
class LossContext:
    """Everything a loss term may look at for one forward pass.

    Attributes:
        phase: ``"weights"``, ``"arch"`` or ``"single"`` (single-level methods).
        logits, targets: the network output and labels.
        params: architecture parameters (differentiable).
        sample: the edge weights used in this forward (``{group: EdgeWeights}``).
        sampler: the run's sampler (``probs``, temperatures, densities).
        costs: ``{group: {metric: tensor (cells, E, K)}}`` from the search space.
        aux_logits: auxiliary-head logits or ``None``.
    """

    phase: str
    logits: Any
    targets: Any
    params: dict = attrs.field(factory=dict)
    sample: dict = attrs.field(factory=dict)
    sampler: Any = None
    costs: dict = attrs.field(factory=dict)
    aux_logits: Any = None


class Objective(abc.ABC):
    """One loss term. The recipe lists terms, each with a ``weight``; the loss of
    a phase is ``sum(weight * term(ctx))`` over the terms whose :attr:`phases`
    include it."""

    name: str = ""
    #: phases the term contributes to
    phases: frozenset[str] = frozenset({"weights", "arch", "single"})

    @abc.abstractmethod
    def __call__(self, ctx: LossContext) -> torch.Tensor:
        """A scalar tensor (differentiable where it should be).

        **Called:** in every step whose phase is in :attr:`phases`."""

    def check_run(self, space: SearchSpace, inputs: InputSpec, *, key: str) -> None:
        """Refuse a run this term cannot serve (e.g. a cost table measured for another space
        or input size) with a :class:`~automl_nas.errors.RecipeError` naming ``key``
        (``"<recipe file>: search.objectives[i]"``).

        **Called:** once, when the run's components are built, before the first step."""

    def device_note(self, device: str, device_name: str, *, key: str) -> str | None:
        """A warning line for a run on ``device`` (``"cpu"``, ``"cuda:0"``; ``device_name`` is
        its GPU or CPU model) that this term serves, but not as the user may expect (a latency
        table timed on another device), or ``None``. The run goes on; the line is printed as a
        warning, also under ``--quiet``.

        **Called:** once, right after :meth:`check_run`."""
        return None
