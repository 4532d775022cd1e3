"""Options of the ``macro`` space (light module: attrs only, no torch)."""

from __future__ import annotations

import attrs
from attrs import validators as v

__all__ = ["MacroConfig"]

_pos_int = [v.instance_of(int), v.gt(0)]
MAX_STAGES = 16  # 15 poolings halve a 32,768-pixel side to 1


@attrs.frozen(kw_only=True)
class MacroConfig:
    """Options of ``[space] name = "macro"``."""

    channels: int = attrs.field(default=16, validator=_pos_int,
                                metadata={"help": "width of the first stage's conv layers (stage s: channels * 2^s)"})
    # Bounded before max_width's check computes channels * 2^(stages-1): 10^11 stages hung validate.
    stages: int = attrs.field(default=3, validator=[*_pos_int, v.le(MAX_STAGES)],
                              metadata={"help": f"stages, separated by 2x2 max pooling (each halves the image, so at "
                                                f"most {MAX_STAGES}); each starts with a conv layer"})
    slots: int = attrs.field(default=2, validator=[v.instance_of(int), v.ge(0)],
                             metadata={"help": "optional conv layers per stage searched by one-shot samplers (skip or conv)"})
    max_width: int = attrs.field(default=256, validator=[*_pos_int, lambda i, a, v: _holds_the_start(i, a, v)],
                                 metadata={"help": "widest conv layer a widen morphism may produce"})
    max_layers: int = attrs.field(default=24, validator=[*_pos_int, lambda i, a, v: _holds_the_start(i, a, v)],
                                  metadata={"help": "most layers (conv, residual, pool) a deepen morphism may produce"})


def _holds_the_start(instance: MacroConfig, attribute: attrs.Attribute, value: int) -> None:
    # The search starts from the stage convs and pools: bounds below them were neither checked nor kept.
    widest, layers = instance.channels * 2 ** (instance.stages - 1), 2 * instance.stages - 1
    start = widest if attribute.name == "max_width" else layers
    if value < start:
        what = (f"the widest stage conv (channels * 2^(stages-1) = {widest})" if attribute.name == "max_width"
                else f"the starting network's {layers} layers (a conv per stage, a pool between stages)")
        raise ValueError(f"{attribute.name} = {value} is below {what}: raise {attribute.name}, or lower "
                         f"space.channels/space.stages")
