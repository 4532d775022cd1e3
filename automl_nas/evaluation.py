"""Scoring a genotype with an evaluator component: the one call site for every caller
(the engine's per-epoch and final scores, ``automl eval``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_nas.errors import plugin_call

if TYPE_CHECKING:
    from automl_nas.api import EvalContext, Evaluator, Genotype
    from automl_nas.registry import Component

__all__ = ["score"]


def score(component: Component, evaluator: Evaluator, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
    """``evaluator.evaluate(genotype, ctx)`` as plain floats; a plugin's bug is a PluginError naming it."""
    with plugin_call(subject=f"evaluator {component.name!r}", plugin=component.plugin, dist=component.dist,
                     action=f"failed on {genotype.text}",
                     hint=f"check the evaluator's options (`automl plugins --options {component.name}`)"):
        metrics: dict[str, Any] = evaluator.evaluate(genotype, ctx)
    return {k: float(v) for k, v in metrics.items()}
