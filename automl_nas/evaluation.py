"""Scoring a genotype with an evaluator component: the one call site for every caller
(the engine's per-epoch and final scores, ``automl eval``); the one check of an evaluator
against the space and data before any work; and the one check of a metric name against what
an evaluator declares (black-box search, studies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from automl_nas.errors import AutomlError, RecipeError, RunError, did_you_mean, out_of_memory_as, plugin_call

if TYPE_CHECKING:
    from automl_nas.api import EvalContext, Evaluator, Genotype
    from automl_nas.registry import Component

__all__ = ["check_fit", "check_reported", "evaluator_source", "score"]


def score(component: Component, evaluator: Evaluator, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
    """``evaluator.evaluate(genotype, ctx)`` as plain floats; a plugin's bug is a PluginError naming it,
    running out of memory a RunError that says what to change."""
    options = f"`automl plugins --options {component.name}`"
    ran_out = out_of_memory_as(lambda said: RunError(
        f"evaluator {component.name!r} ran out of memory on {ctx.device} scoring {genotype.text} ({said})",
        hint=f"give it less to hold at once (a smaller batch among its options: {options}) or run it on a device "
             "with more free memory"))
    with ran_out, plugin_call(subject=f"evaluator {component.name!r}", plugin=component.plugin, dist=component.dist,
                              action=f"failed on {genotype.text}",
                              hint=f"check the evaluator's options ({options}); if they are right, it is the plugin's "
                                   f"bug (AUTOML_NAS_DEBUG=1 shows where): fix or update the plugin"):
        metrics: dict[str, Any] = evaluator.evaluate(genotype, ctx)
        # inside the plugin's call: a wrong return is its bug (an internal error once the host read it)
        problem = returned_metrics_problem(evaluator, metrics)
        if problem:
            raise TypeError(problem)
        values = {str(k): float(v) for k, v in metrics.items()}
    return values


def evaluator_source(evaluator: Any) -> dict[str, Any]:
    """:meth:`~automl_nas.api.Evaluator.source` for the records; ``{}`` when it says nothing or
    fails (a record of provenance must not stop the work it describes)."""
    try:
        got = evaluator.source() if evaluator is not None and hasattr(evaluator, "source") else {}
    except Exception:  # noqa: BLE001 - see above
        return {}
    return dict(got) if isinstance(got, Mapping) else {}


def returned_metrics_problem(evaluator: Evaluator, metrics: Any, wanted: Iterable[str] | None = None) -> str | None:
    """Why what ``evaluator.evaluate`` returned breaks its interface, or ``None``: not a mapping, or
    without a metric it declares (of ``wanted``, default all it declares). ``automl run``/``eval``
    and ``automl search`` raise it each in their own way."""
    if not isinstance(metrics, Mapping):
        return f"evaluate() returned {type(metrics).__name__}, not a dict of metrics"
    declared = tuple(getattr(evaluator, "metrics", ()))
    missing = [m for m in (declared if wanted is None else wanted) if m in declared and m not in metrics]
    if missing:
        return (f"evaluate() returned no {', '.join(map(repr, missing))}, which it declares in metrics "
                f"(it returned {', '.join(map(repr, sorted(metrics))) or 'nothing'})")
    return None


def check_fit(component: Component, evaluator: Evaluator, space: Any, data: Any, *, where: str) -> None:
    """:meth:`Evaluator.check` with ``where`` (``"file: evaluator"``) in front of its refusal; an
    evaluator without the method (written before it) is not checked."""
    check = getattr(evaluator, "check", None)
    if check is None:
        return
    with plugin_call(subject=f"evaluator {component.name!r}", plugin=component.plugin, dist=component.dist,
                     action="failed while checking the space and data", hint="report it to the plugin's authors"):
        try:
            check(space, data)
        except AutomlError as exc:
            raise type(exc)(f"{where}: {exc.message}", hint=exc.hint) from None


def check_reported(evaluator: Evaluator, name: str, *, where: str, hint: str) -> None:
    """Refuse ``name`` before any work when ``evaluator`` declares its metrics
    (:attr:`~automl_nas.api.Evaluator.metrics`) and ``name`` is not one of them; ``where`` is
    ``"file: key = 'value'"``. An evaluator that declares none is checked by its results."""
    declared = tuple(getattr(evaluator, "metrics", ()) or ())
    if declared and name and name not in declared:
        raise RecipeError(f"{where}: evaluator {evaluator.name!r} reports no metric {name!r}"
                          f"{did_you_mean(name, declared)} (it reports {', '.join(declared)})", hint=hint)
