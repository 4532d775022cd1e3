"""Architecture distributions for one-shot search, and black-box proposers."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from automl_nas.api.arch import EdgeWeights

if TYPE_CHECKING:
    import torch

    from automl_nas.api.run import RunContext
    from automl_nas.api.space import GroupSpec


class Sampler(abc.ABC):
    """A distribution over architectures, parameterised by one ``(E, K)`` matrix per group.

    Calling protocol, per epoch ``e`` of a one-shot search:

    1. :meth:`set_epoch` (schedules such as the temperature move here); then, for samplers
       that opt into :class:`StructureChanging`, ``epoch_start(run)``.
    2. For every forward pass (weight step, architecture step, evaluation):
       :meth:`sample` returns the edge weights of that pass; one sample is shared
       by all cells of a group and by the whole batch.
    3. The architecture loss adds :meth:`regularizer` (if not ``None``).
    4. After the epoch's steps the engine runs its validation pass; samplers that opt into
       :class:`ValidationObserver` are told the result (``observe``).
    5. The engine derives the genotype from :meth:`derive_params` (never from a sample),
       logs :meth:`status` and checkpoints :meth:`state_dict`.

    ``learnable = False`` declares a sampler with nothing to learn (e.g. uniform single-path
    sampling): the engine then creates no architecture optimiser and makes no architecture
    step, and the architecture parameters stay at :meth:`init_params`.

    Samplers own no network weights; the engine owns the parameters and the optimisers.
    Methods must not mutate ``params``. Checkpointed: the parameters and both optimisers
    (by the engine) and :meth:`state_dict` (by the sampler).
    """

    name: str = ""
    learnable: bool = True

    def init_params(self, groups: list[GroupSpec], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Initial parameter matrices: ``1e-3 * N(0, 1)`` (DARTS, GDAS, DrNAS; spec §3).

        **Called:** once, when the run is built (before a resume loads the checkpoint)."""
        import torch

        return {g.name: 1e-3 * torch.randn(g.shape, generator=generator) for g in groups}

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        """Move schedules to ``epoch`` (0-based) of ``num_epochs``.

        **Called:** at the start of every epoch, before any sample of it."""
        self.epoch, self.num_epochs = epoch, num_epochs

    @abc.abstractmethod
    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        """Edge weights for one forward pass.

        **Called:** before every forward pass of the supernet.

        Args:
            params: the architecture parameters (differentiable; detached in weight steps).
            phase: ``"weights"``, ``"arch"`` or ``"eval"``.
        """

    @abc.abstractmethod
    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The distribution's mean op weights per edge (rows on the simplex).

        **Called:** once per epoch for the records (``arch_history.jsonl``, entropies)."""

    def derive_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the genotype is derived from (argmax per edge); default ``params``.

        **Called:** once per epoch, after the validation pass, and at the end of the run."""
        return params

    def regularizer(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Extra architecture-loss term (e.g. DrNAS' KL), or ``None``.

        **Called:** in every architecture (or single-level) step."""
        return None

    def status(self) -> dict[str, float]:
        """Scalars to log per epoch (e.g. ``{"temperature": 4.2}``); names must not be
        epoch-record fields (``automl_nas.records.EpochRecord``)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Sampler state beyond ``params`` for checkpoints (masks, stage, temperature)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` on ``--resume`` (before ``restore`` of :class:`StructureChanging`)."""


@runtime_checkable
class StructureChanging(Protocol):
    """Opt-in protocol of progressive samplers (DrNAS): warm-up stages, pruning, widening.

    A sampler that defines these three methods is treated as one; there is no base class
    to inherit.
    """

    def updates_arch(self, epoch: int) -> bool:
        """Whether the architecture is updated in ``epoch`` (warm-up stages say no).

        **Called:** at the start of every epoch, after ``epoch_start``."""

    def epoch_start(self, run: RunContext) -> None:
        """Structural changes at the start of an epoch (prune ops, widen partial channels).

        **Called:** at the start of every epoch, after ``set_epoch``. A sampler that changes
        the supernet's parameters calls ``run.replace_weight_optimizer(new)``."""

    def restore(self, run: RunContext) -> None:
        """Re-apply structural changes to a freshly built supernet on ``--resume``.

        **Called:** after ``load_state_dict``, before the supernet's weights are loaded."""


@runtime_checkable
class ValidationObserver(Protocol):
    """Opt-in protocol: learn from the engine's validation pass (e.g. a sampler that keeps
    the best sampled path, or adapts a schedule to validation accuracy)."""

    def observe(self, run: RunContext, valid_acc: float) -> None:
        """The validation accuracy (percent) of the epoch that just ended.

        **Called:** once per epoch, after the validation pass and before the genotype is
        derived. ``run.valid_batches()`` yields the batches that pass read."""


class TemperatureSchedule:
    """Mixin for samplers with an annealed temperature (GDAS, SNAS): a ``config.temperature``
    schedule (:class:`automl_nas.schedules.Schedule`) moved by :meth:`set_epoch`, logged by
    :meth:`status` and checkpointed."""

    config: Any
    temperature: float

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        self.epoch, self.num_epochs = epoch, num_epochs
        self.temperature = float(self.config.temperature.value(epoch, num_epochs))

    def status(self) -> dict[str, float]:
        return {"temperature": self.temperature}

    def state_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.temperature = float(state.get("temperature", self.temperature))


def child_sample(sampler: Sampler, params: dict[str, torch.Tensor],
                 generator: torch.Generator | None = None) -> dict[str, EdgeWeights]:
    """A discrete child architecture drawn from ``sampler.probs`` (one-hot, only that op runs)."""
    return child_samples(sampler, params, 1, generator)[0]


def child_samples(sampler: Sampler, params: dict[str, torch.Tensor], count: int,
                  generator: torch.Generator | None = None) -> list[dict[str, EdgeWeights]]:
    """``count`` children drawn from ``sampler.probs``, the i-th as the i-th of ``count``
    :func:`child_sample` calls would draw it with the same generator.

    Drawn on the CPU, where the run's seeded generator lives (a CPU generator cannot draw on a
    GPU): the same children on every device. The probabilities are read once and the picks
    sent to the device once per group; the supernet finds the picks on the host too. A
    validation pass over sampled children costs that, not reads and a transfer per batch."""
    import torch

    if not count:
        return []
    probs = sampler.probs(params)
    on_host = {group: p.detach().float().cpu() for group, p in probs.items()}
    drawn: dict[str, list[torch.Tensor]] = {group: [] for group in probs}
    for _ in range(count):
        for group, p in on_host.items():
            drawn[group].append(torch.multinomial(p, 1, generator=generator).squeeze(1))
    children: list[dict[str, EdgeWeights]] = [{} for _ in range(count)]
    for group, p in probs.items():
        picks = torch.stack(drawn[group])
        idx = picks.to(p.device)
        onehot = torch.nn.functional.one_hot(idx, p.shape[1]).to(p.dtype)
        for child, weights, active, host_active in zip(children, onehot, idx, picks.tolist()):
            child[group] = EdgeWeights.picked(weights, active, host_active)
    return children


def updates_arch(sampler: Sampler, epoch: int) -> bool:
    """Whether the engine makes architecture steps in ``epoch``."""
    if not sampler.learnable:
        return False
    return sampler.updates_arch(epoch) if isinstance(sampler, StructureChanging) else True


class SpaceExhausted(Exception):
    """Raised by :meth:`Proposer.ask` when no architecture is left that the proposer can reach
    (every one was asked). Not an error: the search ends as finished with the queries it made
    (``result.json``: ``"exhausted": true``) and says so, where it stopped with a recipe error and
    no result before."""


class Proposer(abc.ABC):
    """Black-box search: propose architectures, learn from their scores (ask/tell).

    Calling protocol: ``setup(space, seed)`` once; then, while the budget lasts,
    ``ask()`` returns a genotype (several may be outstanding when evaluations run
    in parallel) and ``tell(genotype, value)`` reports its score (higher is better).
    ``ask()`` raises :class:`SpaceExhausted` when nothing is left to propose.
    """

    name: str = ""

    @abc.abstractmethod
    def setup(self, space: Any, seed: int) -> None:
        """Bind to a (finite) search space and seed the proposer's randomness."""

    @abc.abstractmethod
    def ask(self) -> Any:
        """The next :class:`~automl_nas.api.Genotype` to evaluate."""

    @abc.abstractmethod
    def tell(self, genotype: Any, value: float) -> None:
        """The score of an asked genotype (higher is better)."""

    def origin(self, genotype: Any) -> dict[str, Any] | None:
        """How the proposer reached ``genotype`` (a network morphism's parent and edits), as JSON
        values recorded with its query in ``history.jsonl``; ``None`` (the default) adds nothing.

        **Called:** once per query, when its score is recorded (after :meth:`tell`), also when a
        resumed search replays it."""
        return None
