"""Options of the GDAS sampler (no torch import)."""

from __future__ import annotations

import attrs

from automl_nas.schedules import Schedule, annealed_schedule, positive_schedule

__all__ = ["GdasConfig"]


def _per_epoch(instance: object, attribute: attrs.Attribute, value: Schedule) -> None:
    # The sampler is told epochs only; GDAS anneals per epoch (spec §6.4, §11.5).
    if value.unit != "epoch":
        raise ValueError(f"{attribute.name} must advance per epoch (unit = \"epoch\"), got unit = {value.unit!r}")


@attrs.frozen(kw_only=True)
class GdasConfig:
    """Options of :class:`automl_nas_gdas.sampler.GdasSampler`."""

    # AutoDL-Projects GDAS.py: tau = tau_max - (tau_max - tau_min) * epoch / (total_epoch - 1).
    temperature: Schedule = attrs.field(
        default=Schedule(kind="linear", start=10.0, end=0.1),
        validator=[positive_schedule, annealed_schedule, _per_epoch],
        metadata={"help": "Gumbel-softmax temperature per epoch (GDAS: linear 10 -> 0.1, last epoch reaches 0.1)"},
    )
    variant: str = attrs.field(
        default="nb201", validator=attrs.validators.in_(("nb201", "single")),
        metadata={"help": "nb201: add the unselected ops' zero weights as scalars (forward_gdas); "
                          "single: only h_k* * o_k*(x) (DARTS space, gdas_v1)"},
    )
    max_redraws: int = attrs.field(
        default=100, validator=attrs.validators.ge(1),
        metadata={"help": "how often a non-finite Gumbel draw is redrawn before giving up"},
    )
