"""Declarative schedules (temperatures, coefficients) usable in recipes and studies.

A recipe writes ``temperature = {kind = "linear", start = 10.0, end = 0.1}``;
``--set search.sampler.temperature.start=5`` or an Optuna study can tune any field.
"""

from __future__ import annotations

import math

import attrs

SCHEDULE_KINDS = ("constant", "linear", "exponential", "cosine")


def _check_end(instance: "Schedule", attribute: attrs.Attribute, value: float | None) -> None:
    if not math.isfinite(instance.start) or (value is not None and not math.isfinite(value)):
        raise ValueError(f"start and end must be finite numbers (got start={instance.start}, end={value})")
    if instance.kind == "exponential" and (instance.start <= 0 or (value is not None and value <= 0)):
        raise ValueError("an exponential schedule needs start > 0 and end > 0")


@attrs.frozen(kw_only=True)
class Schedule:
    """A value that moves with the epoch (or step) index ``i``.

    ``t = clamp((i + offset) / span, 0, 1)`` and then

    * constant: ``start``
    * linear: ``start + (end - start) * t``
    * exponential: ``start * (end / start) ** t``
    * cosine: ``end + (start - end) * (1 + cos(pi * t)) / 2``

    ``span`` defaults to ``total - 1`` when ``endpoint`` (the last unit reaches
    ``end``, GDAS' temperature) and to ``total`` otherwise (torch's cosine LR).
    ``offset = 1`` reproduces schedulers stepped before the first epoch (SNAS).

    Example (the last epoch reaches ``end`` up to rounding, as GDAS' own
    ``tau_max - (tau_max - tau_min) * epoch / (total - 1)`` does in floating point):
        >>> Schedule(kind="linear", start=10, end=0.1).value(249, 250)
        0.09999999999999964
    """

    kind: str = attrs.field(default="constant", validator=attrs.validators.in_(SCHEDULE_KINDS),
                            metadata={"help": "constant, linear, exponential or cosine"})
    start: float = attrs.field(default=1.0, converter=float, metadata={"help": "value at t = 0"})
    end: float | None = attrs.field(default=None, validator=_check_end,
                                    metadata={"help": "value at t = 1 (default: start)"})
    span: int | None = attrs.field(default=None, metadata={"help": "units from start to end (default: total - 1 with endpoint, else total)"})
    offset: int = attrs.field(default=0, metadata={"help": "added to the index before scaling"})
    endpoint: bool = attrs.field(default=True, metadata={"help": "reach `end` in the last unit"})
    unit: str = attrs.field(default="epoch", validator=attrs.validators.in_(("epoch", "step")),
                            metadata={"help": "advance per epoch or per step"})

    def value(self, epoch: int, num_epochs: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """The value in ``epoch`` (0-based) of ``num_epochs`` (at ``step`` if unit is step)."""
        if self.kind == "constant" or self.end is None:
            return self.start
        if self.unit == "step":
            index, total = epoch * steps_per_epoch + step, num_epochs * steps_per_epoch
        else:
            index, total = epoch, num_epochs
        span = self.span if self.span is not None else (total - 1 if self.endpoint else total)
        t = 1.0 if span <= 0 else min(1.0, max(0.0, (index + self.offset) / span))
        if self.kind == "linear":
            return self.start + (self.end - self.start) * t
        if self.kind == "exponential":
            return self.start * (self.end / self.start) ** t
        return self.end + (self.start - self.end) * (1 + math.cos(math.pi * t)) / 2

    def minimum(self, num_epochs: int) -> float:
        """Smallest value the schedule takes (for range checks such as temperature > 0)."""
        end = self.start if self.end is None else self.end
        return min(self.start, end)


def positive_schedule(instance: object, attribute: attrs.Attribute, value: Schedule) -> None:
    """attrs validator: every value of the schedule must be > 0 (temperatures)."""
    end = value.start if value.end is None else value.end
    if value.start <= 0 or end <= 0:
        raise ValueError(f"{attribute.name} must stay > 0 (got start={value.start}, end={end})")


def annealed_schedule(instance: object, attribute: attrs.Attribute, value: Schedule) -> None:
    """attrs validator: a temperature is annealed, so it must not rise (end <= start).

    A rising temperature moves a relaxed sample *away* from a discrete choice, the opposite
    of what GDAS and SNAS anneal for; it is refused rather than run silently."""
    end = value.start if value.end is None else value.end
    if end > value.start:
        raise ValueError(f"{attribute.name} must not rise (got start={value.start}, end={end}): an annealed "
                         f"temperature falls toward a discrete choice; swap start and end")
