"""Options of the SNAS sampler and of the SNAS resource objective (no torch import)."""

from __future__ import annotations

import attrs

from automl_nas.api import INPUT_FILE
from automl_nas.schedules import Schedule, annealed_schedule, positive_schedule

__all__ = ["COST_METRICS", "SnasConfig", "SnasResourceConfig"]

COST_METRICS = ("params", "flops", "mac")
#: every cost the objective understands; "latency" comes from a table of `automl profile-ops`
ALL_COSTS = (*COST_METRICS, "latency")


def _per_epoch(instance: object, attribute: attrs.Attribute, value: Schedule) -> None:
    # The sampler is told epochs only (Sampler.set_epoch); SNAS anneals per epoch (spec §11.5).
    if value.unit != "epoch":
        raise ValueError(f"{attribute.name} must advance per epoch (unit = \"epoch\"), got unit = {value.unit!r}")


@attrs.frozen(kw_only=True)
class SnasConfig:
    """Options of :class:`automl_nas_snas.sampler.SnasSampler`."""

    # SNAS/utils.py Temp_Scheduler: stepped before epoch 0 and hard-coded to 150 epochs (spec §5.3).
    temperature: Schedule = attrs.field(
        default=Schedule(kind="linear", start=1.0, end=0.03, span=150, offset=1),
        validator=[positive_schedule, annealed_schedule, _per_epoch],
        metadata={"help": "relaxation temperature lambda per epoch (SNAS: linear 1 -> 0.03 over 150 epochs, offset 1)"},
    )


def _cost_tuple(value: object) -> tuple:
    # `costs = "latency"` reads as one cost, not as the letters of the word.
    return (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]


def _cost_subset(instance: object, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    unknown = [c for c in value if c not in ALL_COSTS]
    if not value or unknown or len(set(value)) != len(value):
        raise ValueError(f"costs must be a non-empty subset of {ALL_COSTS} without repeats, got {list(value)}")


def _latency_table(instance: "SnasResourceConfig", attribute: attrs.Attribute, value: str | None) -> None:
    uses = "latency" in instance.costs
    if uses and value is None:
        raise ValueError("latency_table: costs include \"latency\" but latency_table is not set; measure one with "
                         "`automl profile-ops SPACE [--set space.KEY=VALUE ...] --out latency.json` and set "
                         "latency_table = \"latency.json\"")
    if value is not None and not uses:
        raise ValueError("latency_table: set, but costs do not include \"latency\"; add it, e.g. costs = \"latency\"")
    if value is not None:
        from automl_nas.costs import read_latency_table

        try:  # a missing or malformed table is a recipe error, found by `automl validate`
            read_latency_table(value)
        except ValueError as exc:
            raise ValueError(f"latency_table: {exc}; measure it with `automl profile-ops SPACE "
                             f"[--set space.KEY=VALUE ...] --out {value}` for the run's space, or with the command "
                             f"its plugin documents for a space whose ops profile-ops cannot time (gnn: "
                             f"python -m automl_nas_eval_nasbench_graph.latency)") from None
    if uses and instance.combine == "linear" and len(instance.costs) > 1:
        raise ValueError("combine: SNAS' linear form 0.43 (2P + F/4000 + M/100) has no latency coefficient; use latency alone "
                         "(costs = \"latency\") or combine = \"log\"")


def _baseline_needs_pg(instance: "SnasResourceConfig", attribute: attrs.Attribute, value: bool) -> None:
    if value and instance.estimator != "policy_gradient":
        raise ValueError("minus_baseline only applies to estimator = \"policy_gradient\" (SNAS --minus_baseline)")


@attrs.frozen(kw_only=True)
class SnasResourceConfig:
    """Options of :class:`automl_nas_snas.resource.SnasResource` (spec §5.4)."""

    weight: float = attrs.field(
        default=1.5e-3, converter=float, validator=attrs.validators.ge(0.0),
        metadata={"help": "eta_res, coefficient of the resource term (SNAS README runs: 1.5e-3)"},
    )
    costs: tuple[str, ...] = attrs.field(
        default=COST_METRICS, converter=_cost_tuple, validator=_cost_subset,
        metadata={"help": "which costs enter r_e: any of params, flops, mac (SNAS --separation; all = 'all'), "
                          "or latency (needs latency_table)"},
    )
    combine: str = attrs.field(
        default="log", validator=attrs.validators.in_(("log", "linear")),
        metadata={"help": "log: mean of log+ costs (SNAS --log_penalty); linear: 0.43 (2P + F/4000 + M/100)"},
    )
    estimator: str = attrs.field(
        default="reparametrization",
        validator=attrs.validators.in_(("reparametrization", "discrete", "policy_gradient")),
        metadata={"help": "gradient estimator of the cost: reparametrization, discrete or policy_gradient"},
    )
    ratio: float = attrs.field(
        default=1.0, converter=float, validator=attrs.validators.ge(0.0),
        metadata={"help": "weight of reduction-cell costs relative to normal cells (SNAS --ratio)"},
    )
    minus_baseline: bool = attrs.field(
        default=False, validator=_baseline_needs_pg,
        metadata={"help": "policy_gradient only: subtract the cell's average op cost from each edge's reward"},
    )
    latency_table: str | None = attrs.field(
        default=None, validator=_latency_table,
        metadata={"help": "JSON table of `automl profile-ops` for the run's space; needed when costs include latency",
                  INPUT_FILE: True},
    )

    def check_space(self, space: str, options: object) -> None:
        """A latency table measured for another space, or for other values of the options its
        fingerprint records (:class:`automl_nas.preflight.SpaceCheck`): refused at plan time,
        not once the data is loaded. The input size is checked at the run (it needs the data)."""
        if self.latency_table is None:
            return
        from automl_nas.costs import plain_data, read_latency_table

        table = read_latency_table(self.latency_table)  # readable: the field's validator read it
        made_by = table.measured.get("regenerate") if isinstance(table.measured, dict) else None
        # The recipe's own space options and image size (the table's are the ones that do not fit).
        regen = (made_by.replace("{out}", table.path) if isinstance(made_by, str) else
                 f"automl profile-ops --recipe RECIPE [-p PROFILE] --out {table.path}")
        if table.space != space:
            raise ValueError(f"latency_table: {table.path} was measured for search space {table.space!r}, not "
                             f"{space!r}; regenerate it with `{regen}`")
        ours = {k: plain_data(getattr(options, k)) for k in table.fingerprint if k != "name" and hasattr(options, k)}
        differ = [k for k, v in ours.items() if v != table.fingerprint[k]]
        if differ:
            detail = ", ".join(f"space.{k} (table {table.fingerprint[k]!r}, recipe {ours[k]!r})" for k in differ)
            raise ValueError(f"latency_table: {table.path} was measured for another {space} configuration: {detail}; "
                             f"regenerate it with `{regen}`, or set those space options to the table's")
