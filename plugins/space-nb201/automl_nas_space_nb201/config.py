"""Options of the NAS-Bench-201 space (light module: attrs only, no torch)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Nb201Config"]

_positive_int = [attrs.validators.instance_of(int), attrs.validators.gt(0)]


def _divides_channels(instance: Nb201Config, attribute: Any, value: int) -> None:
    # Every stage width (C, 2C, 4C) must split into `value` equal parts (spec §7.3).
    if instance.channels % value:
        raise ValueError(
            f"partial_channels={value} must divide channels={instance.channels} "
            f"(the mixed op sees channels / partial_channels channels)"
        )


@attrs.frozen(kw_only=True)
class Nb201Config:
    """Options of ``[search.space] name = "nb201"`` (defaults = NAS-Bench-201 search, spec §1.4)."""

    channels: int = attrs.field(default=16, validator=_positive_int,
                                metadata={"help": "channels C of the first stage (stages use C, 2C, 4C)"})
    cells_per_stage: int = attrs.field(default=5, validator=_positive_int,
                                       metadata={"help": "cells N per stage (3N cells in all)"})
    affine: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool),
                               metadata={"help": "affine BN inside search-cell ops (references: False)"})
    track_running_stats: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool),
                                            metadata={"help": "running BN statistics inside search-cell ops (spec §11.2)"})
    partial_channels: int = attrs.field(default=1, validator=_positive_int + [_divides_channels],
                                        metadata={"help": "K_pc: only channels/K_pc channels enter each mixed edge (DrNAS); 1 = off"})
