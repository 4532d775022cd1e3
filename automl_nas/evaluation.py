"""Scoring a genotype with an evaluator component: the one call site for every caller
(the engine's per-epoch and final scores, ``automl eval``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_nas.errors import RunError, out_of_memory_as, plugin_call

if TYPE_CHECKING:
    from automl_nas.api import EvalContext, Evaluator, Genotype
    from automl_nas.registry import Component

__all__ = ["score"]


def score(component: Component, evaluator: Evaluator, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
    """``evaluator.evaluate(genotype, ctx)`` as plain floats; a plugin's bug is a PluginError naming it,
    running out of memory a RunError that says what to change."""
    options = f"`automl plugins --options {component.name}`"
    ran_out = out_of_memory_as(lambda said: RunError(
        f"evaluator {component.name!r} ran out of memory on {ctx.device} scoring {genotype.text} ({said})",
        hint=f"give it less to hold at once (a smaller batch among its options: {options}) or run it on a device "
             "with more free memory"))
    with ran_out, plugin_call(subject=f"evaluator {component.name!r}", plugin=component.plugin, dist=component.dist,
                              action=f"failed on {genotype.text}", hint=f"check the evaluator's options ({options})"):
        metrics: dict[str, Any] = evaluator.evaluate(genotype, ctx)
    return {k: float(v) for k, v in metrics.items()}
