"""Options of the DARTS search space (light: no torch), and the op lists.

Op order follows DARTS' ``PRIMITIVES`` (SNAS-Series ``SNAS/genotypes.py``; spec §2.1);
DrNAS' ``darts_no_none`` drops ``none`` (K = 7, DrNAS ``DARTS-space/genotypes.py``).
"""

from __future__ import annotations

import attrs
from attrs import validators as v

from automl_nas.api import SUPERNET_ONLY

__all__ = ["DARTS_OPS", "DARTS_OPS_NO_NONE", "OP_SETS", "DartsConfig"]

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS_OPS_NO_NONE: tuple[str, ...] = DARTS_OPS[1:]
OP_SETS = {"darts": DARTS_OPS, "darts_no_none": DARTS_OPS_NO_NONE}

_pos_int = [v.instance_of(int), v.ge(1)]
_prob = [v.instance_of((int, float)), v.ge(0.0), v.lt(1.0)]


def _check_multiplier(instance: DartsConfig, attribute: attrs.Attribute, value: int) -> None:
    if value > instance.steps:
        raise ValueError(f"multiplier must be <= steps ({instance.steps}), got {value}: it counts the last nodes concatenated")


def _check_layers(instance: DartsConfig, attribute: attrs.Attribute, value: int) -> None:
    if instance.layout == "gdas" and value % 3:
        raise ValueError(f"layout 'gdas' lays cells out as N, red, N-1, red, N-1 and needs layers divisible by 3, got {value}")


@attrs.frozen(kw_only=True)
class DartsConfig:
    """Options of the ``darts`` search space (defaults: DARTS search, spec §2.4)."""

    channels: int = attrs.field(default=16, validator=_pos_int, metadata={"help": "initial cell channels C of the search supernet",
                                                                          SUPERNET_ONLY: "eval_channels"})
    layers: int = attrs.field(default=8, validator=[*_pos_int, v.ge(3), _check_layers],
                              metadata={"help": "cells L of the supernet; reductions at L//3 and 2L//3", SUPERNET_ONLY: "eval_layers"})
    steps: int = attrs.field(default=4, validator=_pos_int, metadata={"help": "intermediate nodes per cell (4 gives 14 edges)"})
    multiplier: int = attrs.field(default=4, validator=[*_pos_int, _check_multiplier],
                                  metadata={"help": "last nodes concatenated into the cell output"})
    stem_multiplier: int = attrs.field(default=3, validator=_pos_int, metadata={"help": "stem outputs stem_multiplier x C channels"})
    ops: str = attrs.field(default="darts", validator=v.in_(tuple(OP_SETS)),
                           metadata={"help": "candidate ops: darts (K=8) or darts_no_none (DrNAS, K=7)"})
    derivation: str = attrs.field(default="top2", validator=v.in_(("top2", "edge_all", "top2_joint")),
                                  metadata={"help": "genotype rule: top2 (DARTS, two inputs per node), edge_all (SNAS, argmax per edge "
                                                    "incl. none) or top2_joint (AutoDL GDAS: the two strongest (op, input) pairs of a "
                                                    "node, both may read one input)"})
    drop_path: float = attrs.field(default=0.0, validator=_prob,
                                   metadata={"help": "drop-path probability on every search edge during training (SNAS: 0.3)",
                                             SUPERNET_ONLY: "eval_drop_path"})
    affine: bool = attrs.field(default=False, validator=v.instance_of(bool),
                               metadata={"help": "affine BN inside search cells (references: False)", SUPERNET_ONLY: ""})
    track_running_stats: bool = attrs.field(default=False, validator=v.instance_of(bool),
                                            metadata={"help": "BN running statistics inside search cells (spec §11.2)",
                                                      SUPERNET_ONLY: ""})
    partial_channels: int = attrs.field(default=1, validator=_pos_int,
                                        metadata={"help": "partial-channel K_pc (PC-DARTS/DrNAS); 1 = plain mixed op", SUPERNET_ONLY: ""})
    checkpointing: str = attrs.field(default="off", validator=v.in_(("off", "cells", "edges")),
                                     metadata={"help": "recompute activations in backward instead of keeping them (same maths, about one "
                                                       "more forward pass): cells keeps each cell's inputs, edges each edge's mixed output"})
    reduction: str = attrs.field(default="searched", validator=v.in_(("searched", "gdas_frc")),
                                 metadata={"help": "searched reduction cell, or GDAS' fixed reduction cell (only the normal cell is searched)"})
    layout: str = attrs.field(default="darts", validator=v.in_(("darts", "gdas")),
                              metadata={"help": "supernet layout: darts, or gdas (AutoDL NASNet-style: head BN+ReLU, L divisible by 3)"})
    search_pool_bn: bool = attrs.field(default=True, validator=v.instance_of(bool),
                                       metadata={"help": "non-affine BN after pooling in the search supernet's cells (DARTS "
                                                         "model_search); AutoDL's GDAS search cells have none (false)",
                                                 SUPERNET_ONLY: "pool_bn"})
    pool_bn: bool = attrs.field(default=False, validator=v.instance_of(bool),
                                metadata={"help": "keep the non-affine BN after pooling in the evaluation network (DrNAS)"})
    eval_channels: int = attrs.field(default=36, validator=_pos_int, metadata={"help": "C of the evaluation network"})
    eval_layers: int = attrs.field(default=20, validator=[*_pos_int, v.ge(3)], metadata={"help": "cells of the evaluation network"})
    auxiliary: bool = attrs.field(default=True, validator=v.instance_of(bool),
                                  metadata={"help": "auxiliary head after cell 2L//3 of the evaluation network"})
    eval_drop_path: float = attrs.field(default=0.2, validator=_prob,
                                        metadata={"help": "final drop-path probability of the evaluation network (ramped by the trainer)"})

    @property
    def op_names(self) -> tuple[str, ...]:
        return OP_SETS[self.ops]
