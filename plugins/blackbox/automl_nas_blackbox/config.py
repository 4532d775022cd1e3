"""Options of the proposers (light: no torch, no optuna)."""

from __future__ import annotations

import attrs
from attrs import validators as v


@attrs.frozen(kw_only=True)
class ReaConfig:
    population: int = attrs.field(default=10, validator=v.gt(0), metadata={"help": "population size P (NB201: 10)"})
    sample: int = attrs.field(default=3, validator=v.gt(0), metadata={"help": "tournament size S (NB201: 3)"})
    mutation: str = attrs.field(default="node", validator=v.in_(("node", "edge")),
                                metadata={"help": "node: pick a node, then one of its input edges (NB201's R_EA.py); edge: uniform edge"})


@attrs.frozen(kw_only=True)
class ReinforceConfig:
    lr: float = attrs.field(default=0.01, validator=v.gt(0), metadata={"help": "Adam learning rate of the policy logits"})
    momentum: float = attrs.field(default=0.9, validator=[v.ge(0), v.lt(1)],
                                  metadata={"help": "momentum of the moving-average reward baseline (NB201: 0.9)"})


@attrs.frozen(kw_only=True)
class TpeConfig:
    startup: int = attrs.field(default=10, validator=v.ge(0), metadata={"help": "random trials before TPE (Optuna default 10)"})
    multivariate: bool = attrs.field(default=False, metadata={"help": "multivariate TPE over the edges"})


def _below_t_start(instance: "MorphismConfig", attribute: attrs.Attribute, value: float) -> None:
    if value >= instance.t_start:  # the tree search would never run: every proposal a random edit
        raise ValueError(f"t_min = {value} must be below t_start = {instance.t_start} (the tree search over "
                         f"morphisms runs while the temperature is above t_min); lower t_min or raise t_start")


@attrs.frozen(kw_only=True)
class MorphismConfig:
    """Auto-Keras (Jin et al., KDD 2019) defaults where the paper gives them."""

    beta: float = attrs.field(default=2.576, validator=v.ge(0), metadata={"help": "UCB exploration weight (Auto-Keras: 2.576)"})
    rho: float = attrs.field(default=1.0, validator=v.gt(0), metadata={"help": "kernel exp(-rho^2 d^2) length scale, d = edit distance"})
    noise: float = attrs.field(default=1e-6, validator=v.gt(0), metadata={"help": "GP noise / jitter on the kernel diagonal"})
    max_edits: int = attrs.field(default=3, validator=v.gt(0), metadata={"help": "longest morphism sequence from a trained parent"})
    t_start: float = attrs.field(default=1.0, validator=v.gt(0), metadata={"help": "simulated-annealing start temperature of the tree search"})
    t_min: float = attrs.field(default=0.05, validator=[v.gt(0), _below_t_start], metadata={"help": "the tree search stops below this temperature"})
    cooling: float = attrs.field(default=0.9, validator=[v.gt(0), v.lt(1)], metadata={"help": "temperature factor per expansion"})
