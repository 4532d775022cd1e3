"""Options of the GNN space (light module: attrs only, no torch)."""

from __future__ import annotations

from typing import Any

import attrs

from automl_nas_space_gnn.encoding import OPS, PROTEINS_OPS

__all__ = ["GnnConfig", "OP_SETS"]

#: named op lists: the benchmark's nine, and the five of its ogbn-proteins table
OP_SETS = {"all": OPS, "proteins": PROTEINS_OPS}


def _gat_heads_divide(instance: GnnConfig, attribute: Any, value: int) -> None:
    if value % 4:
        raise ValueError(f"hidden={value} must be a multiple of 4 (gat runs 4 heads of hidden / 4 channels)")


@attrs.frozen(kw_only=True)
class GnnConfig:
    """Options of ``[space] name = "gnn"`` (defaults: the benchmark's macro space)."""

    ops: str = attrs.field(default="all", validator=attrs.validators.in_(tuple(OP_SETS)),
                           metadata={"help": "candidate ops per layer: all (the 9 of NAS-Bench-Graph) or proteins (its 5)"})
    hidden: int = attrs.field(default=64, validator=[attrs.validators.instance_of(int), attrs.validators.gt(0), _gat_heads_divide],
                              metadata={"help": "node embedding width of every layer (the benchmark: 64-256 per data set)"})
    dropout: float = attrs.field(default=0.5, validator=[attrs.validators.ge(0.0), attrs.validators.lt(1.0)],
                                 metadata={"help": "dropout on the input features and before every layer"})

    @property
    def op_names(self) -> tuple[str, ...]:
        return OP_SETS[self.ops]


@attrs.frozen(kw_only=True)
class GnnTrainConfig:
    """Options of ``[evaluator] name = "gnn-train"``: full-batch training of the standalone network."""

    epochs: int = attrs.field(default=200, validator=[attrs.validators.instance_of(int), attrs.validators.gt(0)],
                              metadata={"help": "full-batch training steps"})
    lr: float = attrs.field(default=0.01, validator=attrs.validators.gt(0.0), metadata={"help": "Adam learning rate"})
    weight_decay: float = attrs.field(default=5e-4, validator=attrs.validators.ge(0.0), metadata={"help": "Adam weight decay"})
