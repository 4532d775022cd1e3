"""Options of the DrNAS sampler (no torch import)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["DrnasConfig"]


def _positive_ints(instance: object, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if any(not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(f"{attribute.name} must be a list of integers >= 1, got {list(value)}")


def _never_rising(instance: "DrnasConfig", attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    _one_per_stage(instance, attribute, value)
    if any(b > a for a, b in zip(value, value[1:])):  # a pruned op never comes back
        raise ValueError(f"{attribute.name} must not rise from stage to stage (pruned ops stay pruned), got {list(value)}")


def _one_per_stage(instance: "DrnasConfig", attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    _positive_ints(instance, attribute, value)
    if value and len(value) != len(instance.stage_epochs):
        raise ValueError(
            f"{attribute.name} needs one value per stage: stage_epochs has {len(instance.stage_epochs)} "
            f"stages, {attribute.name} has {len(value)} values ({list(value)})"
        )


def _stage_at(stage_epochs: tuple[int, ...], epoch: int) -> int:
    """The 1-based stage that 0-based ``epoch`` falls in."""
    end = 0
    for stage, length in enumerate(stage_epochs, start=1):
        end += length
        if epoch < end:
            return stage
    return len(stage_epochs)


@attrs.frozen(kw_only=True)
class DrnasConfig:
    """Options of :class:`automl_nas_drnas.sampler.DrnasSampler` (spec §7).

    ``reg_type = "l2"`` adds no loss term: DrNAS' L2 anchor is the architecture Adam's
    weight decay, so the recipe sets ``[search.arch_optimizer] weight_decay = reg_scale``
    (1e-3). ``reg_type = "kl"`` adds ``reg_scale * KL(Dir(beta) || Dir(1))`` to the
    architecture loss; the recipe then sets the Adam weight decay to 0 (spec §7.2, §11.11).
    Progressive learning (NB201: ``stage_epochs = [50, 50]``, ``partial_channels = [4, 2]``,
    ``keep_ops = [5, 3]``) needs the search space's supernet built with
    ``PartialMixedOp(k = partial_channels[0])``.
    """

    reg_type: str = attrs.field(
        default="l2", validator=attrs.validators.in_(("l2", "kl")),
        metadata={"help": "l2: anchor by the arch optimiser's weight decay (set it to reg_scale); kl: add the KL term"},
    )
    reg_scale: float = attrs.field(
        default=1e-3, converter=float, validator=attrs.validators.ge(0.0),
        metadata={"help": "lambda of the regulariser (KL weight, or the Adam weight decay the recipe sets for l2)"},
    )
    stage_epochs: tuple[int, ...] = attrs.field(
        default=(), converter=tuple, validator=_positive_ints,
        metadata={"help": "epochs per progressive stage, e.g. [50, 50]; empty = plain DrNAS (one stage)"},
    )
    partial_channels: tuple[int, ...] = attrs.field(
        default=(), converter=tuple, validator=_one_per_stage,
        metadata={"help": "partial-channel K per stage, e.g. [4, 2]; empty = keep the supernet's"},
    )
    keep_ops: tuple[int, ...] = attrs.field(
        default=(), converter=tuple, validator=_never_rising,
        metadata={"help": "ops kept per edge in each stage, e.g. [5, 3]; empty = never prune"},
    )
    warmup_epochs: int = attrs.field(
        default=10, validator=attrs.validators.ge(0),
        metadata={"help": "progressive mode only: architecture frozen for this many epochs at the start of each stage"},
    )

    def check_epochs(self, epochs: int) -> None:
        """The progressive stages against ``search.epochs`` (:class:`automl_nas.preflight.EpochsCheck`).

        A search shorter than ``sum(stage_epochs)`` never reaches the later stages (no pruning,
        no widening: a plain DrNAS run under a progressive name); a warm-up as long as a stage
        freezes the architecture for the whole stage, so its pruning would rank untrained
        weights. Epochs past the plan stay in the last stage, as the official loop would.
        """
        if not self.stage_epochs:
            return
        planned = sum(self.stage_epochs)
        if epochs < planned:
            raise ValueError(f"stage_epochs = {list(self.stage_epochs)} plans {planned} epochs, but search.epochs = "
                             f"{epochs}, so the search would stop inside stage {_stage_at(self.stage_epochs, epochs - 1)} of "
                             f"{len(self.stage_epochs)}: set search.epochs = {planned} or shorten stage_epochs")
        short = min(self.stage_epochs)
        if self.warmup_epochs >= short:
            raise ValueError(f"warmup_epochs = {self.warmup_epochs} freezes the architecture for a whole stage "
                             f"(the shortest of stage_epochs = {list(self.stage_epochs)} has {short}): set "
                             f"search.sampler.warmup_epochs below {short}")

    def check_space(self, space: str, options: Any) -> None:
        """Progressive partial channels against the space's supernet (:class:`automl_nas.preflight.SpaceCheck`).

        Each stage sets every partial-channel op's K, starting from the supernet's
        ``space.partial_channels``: K may only shrink (ops widen, they never narrow) and must
        divide the channels (every cell's are multiples of ``space.channels``). A supernet
        without partial channels (K = 1) has no op to widen: the stages would run without them.
        """
        if not self.partial_channels:
            return
        asked = f"partial_channels = {list(self.partial_channels)}"
        built = getattr(options, "partial_channels", None)
        channels = getattr(options, "channels", None)
        if built is None or channels is None:
            raise ValueError(f"{asked} needs a space with partial channels (space.partial_channels and "
                             f"space.channels); {space!r} has none: remove search.sampler.partial_channels")
        fix = f"set space.partial_channels = {self.partial_channels[0]}"
        if built == 1:
            raise ValueError(f"{asked}, but the supernet is built without partial channels "
                             f"(space.partial_channels = 1), so no stage would use them: {fix}")
        for stage, (before, k) in enumerate(zip((built, *self.partial_channels), self.partial_channels)):
            if k > before:
                where = "the supernet's space.partial_channels" if stage == 0 else f"stage {stage}"
                raise ValueError(f"{asked}: K may only shrink, from {where} to stage {stage + 1} (ops widen, they "
                                 f"never narrow), got {before} -> {k}" + (f": {fix}" if stage == 0 else ""))
            if channels % k:
                raise ValueError(f"{asked}: K = {k} does not divide space.channels = {channels}")
