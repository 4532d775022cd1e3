"""Options of the DrNAS sampler (no torch import)."""

from __future__ import annotations

import attrs

__all__ = ["DrnasConfig"]


def _positive_ints(instance: object, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if any(not isinstance(v, int) or v < 1 for v in value):
        raise ValueError(f"{attribute.name} must be a list of integers >= 1, got {list(value)}")


def _one_per_stage(instance: "DrnasConfig", attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    _positive_ints(instance, attribute, value)
    if value and len(value) != len(instance.stage_epochs):
        raise ValueError(
            f"{attribute.name} needs one value per stage: stage_epochs has {len(instance.stage_epochs)} "
            f"stages, {attribute.name} has {len(value)} values ({list(value)})"
        )


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
        default=(), converter=tuple, validator=_one_per_stage,
        metadata={"help": "ops kept per edge in each stage, e.g. [5, 3]; empty = never prune"},
    )
    warmup_epochs: int = attrs.field(
        default=10, validator=attrs.validators.ge(0),
        metadata={"help": "progressive mode only: architecture frozen for this many epochs at the start of each stage"},
    )
