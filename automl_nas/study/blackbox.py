"""The black-box NAS loop: a :class:`~automl_nas.api.Proposer` asks, an
:class:`~automl_nas.api.Evaluator` scores, the proposer is told (higher is better).

Budgets: ``budget_queries`` evaluations and/or ``budget_seconds`` of wall clock
(0 means no limit; at least one must be set). With ``parallel > 1`` up to that
many evaluations run at once as Ray tasks (for retraining evaluators); tabular
lookups are fastest in-process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from automl_nas.errors import RecipeError

__all__ = ["plan_blackbox_recipe", "run_blackbox", "run_blackbox_recipe"]


def _score(evaluator: Any, genotype: Any, ctx: Any, metric: str) -> float:
    metrics = evaluator.evaluate(genotype, ctx)
    if metric not in metrics:
        raise RecipeError(f"blackbox.metric: evaluator {evaluator.name!r} returned no {metric!r} (it returns {sorted(metrics)})")
    return float(metrics[metric])


def run_blackbox(space: Any, proposer: Any, evaluator: Any, ctx: Any, budget_queries: int = 100,
                 budget_seconds: float = 0.0, parallel: int = 1, *, metric: str = "", seed: int = 0,
                 on_query: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Search ``space`` with ``proposer``; returns the history and the best genotype.

    Returns ``{"history": [{query, genotype, value, best, time_s}], "best_genotype",
    "best_value", "curve" (best value so far after each query), "queries", "seconds"}``.

    Example:
        >>> run_blackbox(space, RegularizedEvolution(), table, EvalContext(space=space), 100, metric="cifar10")  # doctest: +SKIP
    """
    if not budget_queries and not budget_seconds:
        raise RecipeError("blackbox: no budget; set `queries` and/or `seconds`")
    metric = metric or (tuple(evaluator.metrics) or ("",))[0]
    sign = 1.0 if getattr(evaluator, "higher_is_better", True) else -1.0
    proposer.setup(space, seed)
    loop = _Loop(budget_queries, budget_seconds, on_query, sign)
    if parallel > 1:
        _run_ray(loop, proposer, evaluator, ctx, metric, parallel)
    else:
        while loop.more(0):
            genotype = proposer.ask()
            value = _score(evaluator, genotype, ctx, metric)
            proposer.tell(genotype, sign * value)
            loop.record(genotype, value)
    return loop.summary(metric)


class _Loop:
    def __init__(self, queries: int, seconds: float, on_query, sign: float) -> None:
        self.queries, self.seconds, self.on_query, self.sign = queries, seconds, on_query, sign
        self.started = time.perf_counter()
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float, str] | None = None

    def more(self, outstanding: int) -> bool:
        if self.queries and len(self.history) + outstanding >= self.queries:
            return False
        return not self.seconds or time.perf_counter() - self.started < self.seconds

    def record(self, genotype: Any, value: float) -> None:
        if self.best is None or self.sign * value > self.sign * self.best[0]:
            self.best = (value, genotype.text)
        entry = {"query": len(self.history), "genotype": genotype.text, "value": value, "best": self.best[0],
                 "time_s": round(time.perf_counter() - self.started, 4)}
        self.history.append(entry)
        if self.on_query is not None:
            self.on_query(entry)

    def summary(self, metric: str) -> dict[str, Any]:
        return {"metric": metric, "history": self.history, "best_genotype": self.best[1] if self.best else None,
                "best_value": self.best[0] if self.best else None, "curve": [h["best"] for h in self.history],
                "queries": len(self.history), "seconds": round(time.perf_counter() - self.started, 3)}


def _run_ray(loop: _Loop, proposer, evaluator, ctx, metric: str, parallel: int) -> None:
    import ray

    from automl_nas.execution.ray import connect

    started = connect(None)
    try:
        remote = ray.remote(_score)
        shared = ray.put(evaluator), ray.put(ctx)
        pending: dict[Any, Any] = {}
        while True:
            while len(pending) < parallel and loop.more(len(pending)):
                genotype = proposer.ask()
                pending[remote.remote(shared[0], genotype, shared[1], metric)] = genotype
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            genotype = pending.pop(ref)
            value = ray.get(ref)
            proposer.tell(genotype, loop.sign * value)
            loop.record(genotype, value)
    finally:
        if started:
            ray.shutdown()


def _component(registry, kind: str, ref, key: str, source: str, build: bool = True):
    """The built component of ``ref``; with ``build=False`` its checked options only (no import of the implementation)."""
    from automl_nas.recipe.converter import structure

    comp = registry.get(kind, ref.name, where=f"{source}: {key}.name")
    if comp.config is None:
        if ref.options:
            raise RecipeError(f"{source}: {key}: {kind} {ref.name!r} takes no options (got {', '.join(sorted(ref.options))})")
        return registry.create(kind, ref.name) if build else None
    config = structure(ref.options, comp.config, source=source, prefix=key)
    return registry.create(kind, ref.name, config) if build else config


def plan_blackbox_recipe(path: str | Path, *, profile: str | None = None, overrides=(),
                         build: bool = True) -> tuple[dict, Any, Any, Any, Any]:
    """Read and check a black-box recipe: ``(raw, config, space, evaluator, proposer)``, the last
    three built; with ``build=False`` (``automl validate``: no torch) their checked options instead.
    """
    from automl_nas.recipe import load_raw
    from automl_nas.recipe.converter import structure
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.overrides import apply_profile, parse_assignment, set_path
    from automl_nas.session import open_session
    from automl_nas.study.config import load_blackbox_config

    source = str(path)
    raw = apply_profile(load_raw(path), profile, source=source)
    for item in overrides:
        key, value = parse_assignment(item)
        set_path(raw, key, value, source=f"{source} (--set {item})")
    cfg = load_blackbox_config(raw.get("blackbox"), source=source)
    for key in ("space", "evaluator"):
        if key not in raw:
            raise RecipeError(f"{source}: [{key}] is required by `automl search`")
    _, registry = open_session()
    space = _component(registry, "search_space", structure(raw["space"], ComponentRef, source=source, prefix="space"), "space",
                       source, build)
    evaluator = _component(registry, "evaluator", structure(raw["evaluator"], ComponentRef, source=source, prefix="evaluator"),
                           "evaluator", source, build)
    proposer = _component(registry, "proposer", cfg.proposer, "blackbox.proposer", source, build)
    return raw, cfg, space, evaluator, proposer


def run_blackbox_recipe(path: str | Path, *, profile: str | None = None, overrides=(), run_dir=None,
                        quiet: bool = False) -> dict[str, Any]:
    """``automl search``: read ``[space]``, ``[evaluator]``, ``[blackbox]`` and run the loop.

    Writes ``history.jsonl`` and ``result.json`` into the run directory.
    """
    import click

    from automl_nas.api.evaluator import EvalContext
    from automl_nas.records.rundir import RunDir

    raw, cfg, space, evaluator, proposer = plan_blackbox_recipe(path, profile=profile, overrides=overrides)
    name, seed = raw.get("name", Path(path).stem), int(raw.get("seed", 0))
    rd = RunDir.create((raw.get("run") or {}).get("root", "runs"), f"{name}-blackbox", run_dir)

    def on_query(entry: dict) -> None:
        rd.append_jsonl(rd.path / "history.jsonl", entry)
        if not quiet:
            click.echo(f"query {entry['query']:4d}  {entry['value']:.4f}  best {entry['best']:.4f}  {entry['genotype']}", err=True)

    ctx = EvalContext(space=space, seed=seed, run_dir=rd.path, log=(lambda _m: None) if quiet else print)
    out = run_blackbox(space, proposer, evaluator, ctx, cfg.queries, cfg.seconds, cfg.parallel, metric=cfg.metric,
                       seed=seed, on_query=on_query)
    result = {"status": "finished", "recipe": name, "proposer": cfg.proposer.name, "space": space.name, "seed": seed,
              **{k: v for k, v in out.items() if k != "history"}, "run_dir": str(rd.path)}
    rd.write_result(result)
    return result
