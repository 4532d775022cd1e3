"""The network being retrained: the space rebuilt with the retraining sizes, drop-path, costs."""

from __future__ import annotations

from typing import Any

import attrs
from torch import nn

from automl_nas.api import Genotype, InputSpec, SearchSpace, supernet_only_problem
from automl_nas.costs import network_costs
from automl_nas.errors import RecipeError, did_you_mean

__all__ = ["check_drop_path", "drop_path_at", "genotype_costs", "network_space", "set_drop_path"]


def network_space(space: SearchSpace, options: dict[str, Any]) -> SearchSpace:
    """``space`` rebuilt with ``options`` over its config (``evaluator.network``); ``space`` itself if none."""
    if not options:
        return space
    config = getattr(space, "config", None)
    if config is None or not attrs.has(type(config)):
        raise RecipeError(f"evaluator.network: the {space.name!r} space has no attrs options to override "
                          f"(got {', '.join(sorted(options))})", hint="remove evaluator.network")
    allowed = sorted(f.name for f in attrs.fields(type(config)))
    for key in options:
        if key not in allowed:
            raise RecipeError(f"evaluator.network.{key}: the {space.name!r} space has no option {key!r}"
                              f"{did_you_mean(key, allowed)} "
                              f"(allowed: {', '.join(allowed)})", hint="fix the key in evaluator.network")
    unused = supernet_only_problem(space.name, config, options)
    if unused:  # the trained network would be built without it, silently
        raise RecipeError(f"evaluator.network: {unused}", hint="set the option the trained network reads, or remove the key")
    try:
        return type(space)(attrs.evolve(config, **options))
    except (TypeError, ValueError) as exc:
        # attrs' validators put the sentence first and then the attribute object, whose repr is a page
        said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise RecipeError(f"evaluator.network: invalid {space.name!r} space options {options}: {said}",
                          hint="fix the value in evaluator.network") from None


def drop_path_at(prob: float, epoch: int, epochs: int) -> float:
    """DARTS ``train.py``: ``model.drop_path_prob = drop_path_prob * epoch / epochs`` (0-based epoch)."""
    return prob * epoch / epochs


def check_drop_path(net: nn.Module, prob: float) -> None:
    """Refuse a drop-path probability the network cannot apply (before any training)."""
    if prob > 0.0 and not hasattr(net, "drop_path_prob"):
        raise RecipeError(f"evaluator.drop_path_prob = {prob}: the {type(net).__name__} network has no drop-path",
                          hint="set evaluator.drop_path_prob = 0 for this space")


def set_drop_path(net: nn.Module, prob: float) -> None:
    """Set the probability the network's cells read each forward (DARTS networks: ``drop_path_prob``)."""
    if hasattr(net, "drop_path_prob"):
        net.drop_path_prob = prob


def genotype_costs(space: SearchSpace, genotype: Genotype, inputs: InputSpec, net: nn.Module) -> dict[str, float]:
    """``params`` / ``flops`` (multiply-adds per image) from the space's cost model; spaces without
    one are measured (:func:`automl_nas.costs.network_costs`)."""
    return {k: float(val) for k, val in network_costs(space, genotype, inputs, net).items() if k in ("params", "flops")}
