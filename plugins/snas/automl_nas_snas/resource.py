"""SNAS' locally decomposable resource constraint (Xie et al., ICLR 2019, §2.4 of the paper).

Official code followed: SNAS-Series ``SNAS/model_search.py`` (``Network.forward``, the
``resource_*`` / ``log_resource_*`` terms) and ``SNAS/train_search.py``; spec: algorithms.md §5.4.

Per cell and edge, each cost is linear in the sample: X_e = sum_k Z_ek X_k. Then
* linear: r_e = 0.43 (2 P_e + F_e / 4000 + M_e / 100);
* log:    r_e = mean over costs of log+(X_e), log+(x) = log|x| for |x| >= 1 else 0.
Network cost R = sum over groups of ratio_g * mean over the group's cells of sum_e r_e
(ratio_g = ``ratio`` for "reduce", else 1); for SNAS' 8-cell net this is the code's
``/6`` and ``/2``. Estimators: ``reparametrization`` (Z, differentiated through it),
``discrete`` (softmax(a) in place of Z), ``policy_gradient`` (sum_e log q(Z_e) * stopgrad(r_e),
aggregated over cells exactly like R).

Deviations: policy_gradient evaluates log q at a detached Z (a pure score function; the
code lets the pathwise gradient of Z leak into it). With a single cost the linear form is
the raw cost (as the code's ``--separation size|flops|mac``); two costs (not in the code)
use the weighted form's coefficients for those two.

Extension (not in SNAS): ``costs = "latency"`` reads per-op latencies measured by
``automl profile-ops`` from ``latency_table`` (format: :mod:`automl_nas.costs`); the table is
checked against the run's space before the first epoch. Latency enters r_e in microseconds,
so that log+ (which zeroes values below 1) still sees sub-millisecond ops; alone in the linear
form it is the expected latency aggregated as R aggregates every cost: a group's mean cell, summed
over groups (reduce weighted by ``ratio``), not the whole network's latency (that is the sum over
all cells: N/3 times it for NB201's N = 5 cells per stage). Example::

    automl profile-ops nb201 --set space.channels=8 --set space.cells_per_stage=1 --input 1x16x16 --out nb201-lat.json
    objectives = [{ name = "cross_entropy" },
                  { name = "snas_resource", costs = "latency", latency_table = "nb201-lat.json", weight = 1e-2 }]
"""

from __future__ import annotations

import torch

from automl_nas.api import LossContext, Objective
from automl_nas.costs import LatencyTable, load_latency_table
from automl_nas.errors import RecipeError

from automl_nas_snas.config import SnasResourceConfig

__all__ = ["SnasResource", "edge_costs"]

# SNAS' linear combination: r = 0.43 * (2 P + F / 4000 + M / 100)
_LINEAR = {"params": 2.0, "flops": 1.0 / 4000.0, "mac": 1.0 / 100.0}
_LINEAR_SCALE = 0.43
_LATENCY_UNIT = 1000.0  # table milliseconds -> microseconds
_KEY = "snas_resource.latency_table"


def _log_plus(x: torch.Tensor) -> torch.Tensor:
    # The code replaces |x| < 1 by 1 before the log, so tiny costs count as 0.
    a = x.abs()
    return torch.log(torch.where(a >= 1, a, torch.ones_like(a)))


def edge_costs(per_metric: dict[str, torch.Tensor], combine: str) -> torch.Tensor:
    """Combine per-edge costs ``{metric: tensor}`` into r (same shape as each tensor)."""
    if combine == "log":
        return sum(_log_plus(x) for x in per_metric.values()) / len(per_metric)
    if len(per_metric) == 1:
        return next(iter(per_metric.values()))
    return _LINEAR_SCALE * sum(_LINEAR[m] * x for m, x in per_metric.items())


class SnasResource(Objective):
    """The unweighted resource term R; the host multiplies it by ``config.weight`` (eta_res).

    Reads ``ctx.costs`` (``{group: {metric: (cells, E, K)}}``), ``ctx.sample``,
    ``ctx.params`` and ``ctx.sampler``. In bilevel mode it joins the architecture loss
    only; in single-level mode the one shared loss.
    """

    name = "snas_resource"
    phases = frozenset({"arch", "single"})

    def __init__(self, config: SnasResourceConfig | None = None) -> None:
        self.config = config if config is not None else SnasResourceConfig()
        path = self.config.latency_table
        #: the loaded table (``check_run`` checks it against the run's space)
        self.latency_table: LatencyTable | None = load_latency_table(path, key=_KEY) if path else None
        self._latency: dict[str, torch.Tensor] | None = None

    def __call__(self, ctx: LossContext) -> torch.Tensor:
        costs = self._costs(ctx)
        total = None
        for group, table in costs.items():
            ratio = self.config.ratio if group == "reduce" else 1.0
            term = ratio * self._group_term(ctx, group, table)
            total = term if total is None else total + term
        return total

    def device_note(self, device: str, device_name: str, *, key: str) -> str | None:
        if self.latency_table is None:
            return None
        return self.latency_table.device_note(device, device_name, key=f"{key}.latency_table")

    def check_run(self, space, inputs, *, key: str) -> None:
        """Refuse a ``latency_table`` measured for another space, options or input size, naming
        the recipe key and the ``automl profile-ops`` command that regenerates the table."""
        if self.latency_table is not None:
            self.latency_table.check_space(space, inputs, key=f"{key}.latency_table")
        analytic = [m for m in self.config.costs if m != "latency"]
        if analytic:  # otherwise a KeyError at the first architecture step
            try:
                tables = space.op_costs(inputs)
            except NotImplementedError:
                tables = {}
            given = set.intersection(*(set(t) for t in tables.values())) if tables else set()
            missing = [m for m in analytic if m not in given]
            if missing:
                raise RecipeError(f"{key}.costs: the {space.name!r} space gives no per-op {', '.join(missing)} "
                                  f"(it gives {', '.join(sorted(given)) or 'no per-op costs'})",
                                  hint=f"set costs to {sorted(given)} or to [\"latency\"] with a latency_table "
                                       f"from `automl profile-ops {space.name}`" if given else
                                       f"use costs = [\"latency\"] with a latency_table from `automl profile-ops {space.name}`")

    def _costs(self, ctx: LossContext) -> dict[str, dict[str, torch.Tensor]]:
        """The space's per-op costs, with the latency table's ``latency`` (in us) added when asked for."""
        analytic = [m for m in self.config.costs if m != "latency"]
        if analytic and not ctx.costs:
            raise ValueError(
                "snas_resource needs per-op costs (LossContext.costs) from the search space's op_costs(); got none"
            )
        if self.latency_table is None:
            return ctx.costs
        if self._latency is None:
            if ctx.costs:
                shapes = {g: tuple(next(iter(t.values())).shape) for g, t in ctx.costs.items()}
            else:  # no analytic costs to compare with: the table's cell counts are taken on trust
                shapes = {g: (self.latency_table.groups[g].cells, *p.shape) if g in self.latency_table.groups else p.shape
                          for g, p in ctx.params.items()}
            self.latency_table.check_shapes(shapes, key=_KEY)
            self._latency = {g: t * _LATENCY_UNIT for g, t in self.latency_table.tensors(dtype=torch.float64).items()}
        groups = ctx.costs.keys() if ctx.costs else self._latency.keys()
        return {g: {**ctx.costs.get(g, {}), "latency": self._latency[g]} for g in groups}

    def _group_term(self, ctx: LossContext, group: str, table: dict[str, torch.Tensor]) -> torch.Tensor:
        est = self.config.estimator
        z = ctx.sampler.probs(ctx.params)[group] if est == "discrete" else ctx.sample[group].weights
        costs = {m: table[m].to(dtype=z.dtype, device=z.device) for m in self.config.costs}
        r = edge_costs({m: (c * z).sum(-1) for m, c in costs.items()}, self.config.combine)  # (cells, E)
        if est != "policy_gradient":
            return r.sum(-1).mean(0)
        if self.config.minus_baseline:
            # Baseline: the cost of the cell's average op (mean over its edges and ops), per cost.
            r = r - edge_costs({m: c.mean((-2, -1)) for m, c in costs.items()}, self.config.combine).unsqueeze(-1)
        log_q = self._log_density(ctx, z.detach(), ctx.params[group])  # (E,)
        return (log_q * r.detach()).sum(-1).mean(0)

    @staticmethod
    def _log_density(ctx: LossContext, z: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        density = getattr(ctx.sampler, "log_density", None)
        if density is None:
            raise ValueError(
                f"snas_resource with estimator = \"policy_gradient\" needs a sampler with a Concrete "
                f"log_density (the snas sampler); got {type(ctx.sampler).__name__}"
            )
        return density(z, logits)
