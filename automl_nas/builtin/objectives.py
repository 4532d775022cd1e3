"""Built-in objective: cross-entropy (with an optional auxiliary-head term)."""

from __future__ import annotations

import attrs

from automl_nas.hookspecs import hookimpl
from automl_nas.registry import Component


@attrs.frozen(kw_only=True)
class CrossEntropyConfig:
    weight: float = attrs.field(default=1.0, metadata={"help": "coefficient of this term in the loss"})
    label_smoothing: float = attrs.field(default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.lt(1.0)],
                                         metadata={"help": "label smoothing in [0, 1)"})
    aux_weight: float = attrs.field(default=0.4, validator=attrs.validators.ge(0.0),
                                    metadata={"help": "weight of the auxiliary head's loss, when there is one"})


@hookimpl
def automl_register_objectives() -> list[Component]:
    return [
        Component(
            kind="objective",
            name="cross_entropy",
            impl="automl_nas.builtin.losses:CrossEntropy",
            config=CrossEntropyConfig,
            summary="task loss: cross-entropy of the logits (+ aux_weight x auxiliary head)",
        )
    ]
