"""Architecture distributions for one-shot search, and black-box proposers."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from automl_nas.api.arch import EdgeWeights

if TYPE_CHECKING:
    import torch

    from automl_nas.api.space import GroupSpec


class Sampler(abc.ABC):
    """A distribution over architectures, parameterised by one ``(E, K)`` matrix per group.

    Calling protocol, per epoch ``e`` of a one-shot search:

    1. :meth:`set_epoch` (schedules such as the temperature move here).
    2. For every forward pass (weight step, architecture step, evaluation):
       :meth:`sample` returns the edge weights of that pass; one sample is shared
       by all cells of a group and by the whole batch.
    3. The architecture loss adds :meth:`regularizer` (if not ``None``).
    4. The engine derives the genotype from :meth:`derive_params` (never from a sample).

    Samplers own no network weights; the engine owns the parameters and the
    optimisers. Methods must not mutate ``params`` except in :meth:`epoch_start`.
    """

    name: str = ""

    def init_params(self, groups: list[GroupSpec], generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Initial parameter matrices: ``1e-3 * N(0, 1)`` (DARTS, GDAS, DrNAS; spec §3)."""
        import torch

        return {g.name: 1e-3 * torch.randn(g.shape, generator=generator) for g in groups}

    def set_epoch(self, epoch: int, num_epochs: int) -> None:
        """Move schedules to ``epoch`` (0-based) of ``num_epochs``."""
        self.epoch, self.num_epochs = epoch, num_epochs

    @abc.abstractmethod
    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        """Edge weights for one forward pass.

        Args:
            params: the architecture parameters (differentiable).
            phase: ``"weights"``, ``"arch"`` or ``"eval"``.
        """

    @abc.abstractmethod
    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The distribution's mean op weights per edge (rows on the simplex)."""

    def derive_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the genotype is derived from (argmax per edge); default ``params``."""
        return params

    def regularizer(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Extra architecture-loss term (e.g. DrNAS' KL), or ``None``."""
        return None

    def child_sample(self, params: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> dict[str, EdgeWeights]:
        """A discrete child architecture drawn from :meth:`probs` (one-hot, only that op runs)."""
        import torch

        out = {}
        for group, p in self.probs(params).items():
            idx = torch.multinomial(p.detach().float(), 1, generator=generator).squeeze(1)
            onehot = torch.nn.functional.one_hot(idx, p.shape[1]).to(p.dtype)
            out[group] = EdgeWeights(weights=onehot, active=idx)
        return out

    def updates_arch(self, epoch: int) -> bool:
        """Whether the architecture is updated in ``epoch`` (warm-up stages say no)."""
        return True

    def epoch_start(self, run: Any) -> None:
        """Optional structural changes at the start of an epoch (progressive pruning/widening).

        ``run`` is the :class:`automl_nas.engine.run.RunContext`; a sampler that
        changes the supernet must assign a new optimiser to ``run.weight_optimizer``
        (the engine sets its learning rate every epoch, so no scheduler state is lost).
        """

    def restore(self, run: Any) -> None:
        """After :meth:`load_state_dict` on resume: re-apply structural changes
        (pruning, widening) to the freshly built supernet before its weights load."""

    def status(self) -> dict[str, float]:
        """Scalars to log per epoch (e.g. ``{"temperature": 4.2}``)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Sampler state beyond ``params`` for checkpoints (masks, stage)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Proposer(abc.ABC):
    """Black-box search: propose architectures, learn from their scores (ask/tell).

    Calling protocol: ``setup(space, seed)`` once; then, while the budget lasts,
    ``ask()`` returns a genotype (several may be outstanding when evaluations run
    in parallel) and ``tell(genotype, value)`` reports its score (higher is better).
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
