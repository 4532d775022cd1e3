"""What the engine hands a plugin during a one-shot run: the declared :class:`RunContext`.

The context is constructed whole by the engine once the run's components exist and is
passed to every lifecycle hook (``automl_run_start``, ``automl_step_end``,
``automl_epoch_end``, ``automl_run_end``) and to the optional sampler protocols of
:mod:`automl_nas.api.sampler` (``epoch_start``, ``restore``, ``observe``).

What a plugin may **read**: every public attribute below. What it may **change**, and
only through the named methods: the weight optimiser (:meth:`RunContext.replace_weight_optimizer`,
after a structural change of the supernet) and whether the run should stop
(:meth:`RunContext.request_stop`). The supernet's modules and the architecture
parameters' *values* belong to the engine; a sampler's structural change (pruning,
Net2Wider widening) edits the supernet in place and then replaces the optimiser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

import attrs

if TYPE_CHECKING:
    import torch
    from torch import nn

    from automl_nas.recipe.model import Recipe

__all__ = ["RunContext"]


def _quiet(msg: str) -> None:  # the default log: say nothing
    del msg


def _no_batches() -> Iterator[tuple[Any, Any]]:
    return iter(())


@attrs.define(kw_only=True, eq=False)
class RunContext:
    """One one-shot search run, as plugins see it.

    Attributes:
        recipe: the resolved, frozen recipe (``automl_nas.recipe.Recipe``).
        run_dir: the run directory (``automl_nas.records.RunDir``: ``path`` and the file layout).
        device: the torch device the run uses (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        supernet: the weight-sharing supernet built by the search space.
        params: the architecture parameters, one ``(E, K)`` ``nn.Parameter`` per group.
        generator: the run's seeded torch generator (deterministic sampler randomness).
        num_epochs: epochs of the search.
        steps_per_epoch: search steps per epoch.
        space_name, sampler_name: the components' registry names (for messages).

    Example (a lifecycle plugin)::

        @hookimpl
        def automl_epoch_end(run, epoch, metrics):
            run.log(f"{run.sampler_name} epoch {epoch + 1}/{run.num_epochs}: {metrics['genotype']}")
    """

    recipe: Recipe
    run_dir: Any
    device: str
    supernet: nn.Module
    params: dict[str, nn.Parameter]
    generator: torch.Generator
    num_epochs: int
    steps_per_epoch: int = 0
    space_name: str = ""
    sampler_name: str = ""
    _weight_optimizer: torch.optim.Optimizer = attrs.field(alias="weight_optimizer")
    _arch_optimizer: torch.optim.Optimizer | None = attrs.field(default=None, alias="arch_optimizer")
    _log: Callable[[str], None] = attrs.field(default=_quiet, alias="log")
    _valid_batches: Callable[[], Iterator[tuple[Any, Any]]] = attrs.field(default=_no_batches, alias="valid_batches")
    _epoch: int = attrs.field(default=0, alias="epoch")
    _start_epoch: int = attrs.field(default=0, alias="start_epoch")
    _stop_requested: str | None = attrs.field(default=None, init=False)

    # ---- read ----
    @property
    def epoch(self) -> int:
        """The 0-based epoch in progress (set by the engine when an epoch starts)."""
        return self._epoch

    @property
    def start_epoch(self) -> int:
        """The first epoch this process runs: 0, or the epoch after the checkpoint on ``--resume``."""
        return self._start_epoch

    @property
    def weight_optimizer(self) -> torch.optim.Optimizer:
        """The optimiser of the supernet's weights (its LR is set by the engine every epoch)."""
        return self._weight_optimizer

    @property
    def arch_optimizer(self) -> torch.optim.Optimizer | None:
        """The optimiser of the architecture parameters (``None`` for samplers with nothing to learn)."""
        return self._arch_optimizer

    @property
    def stop_requested(self) -> str | None:
        """Why the run should stop after the current step (``"SIGTERM"``, a plugin's reason), or ``None``."""
        return self._stop_requested

    def valid_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The engine's validation batches ``(x, y)`` on the run's device, in a fixed order,
        limited to ``search.valid_batches``: what the engine's own validation pass reads."""
        return self._valid_batches()

    def log(self, msg: str) -> None:
        """A line for the user (stderr; silent under ``--quiet``)."""
        self._log(msg)

    # ---- the changes a plugin may make ----
    def replace_weight_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Use ``optimizer`` for the supernet's weights from now on (after a structural change
        such as widening); it is checkpointed in place of the old one. The engine sets its
        learning rate at the start of every epoch, so no scheduler state is lost."""
        self._weight_optimizer = optimizer

    def request_stop(self, reason: str) -> None:
        """Stop after the current step: the epoch in flight is not recorded, the last
        checkpoint stands, and the run ends ``interrupted`` (resumable)."""
        self._stop_requested = reason

    # ---- engine only ----
    def _enter_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def _set_start_epoch(self, epoch: int) -> None:
        self._start_epoch = epoch
