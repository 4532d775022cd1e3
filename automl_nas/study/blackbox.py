"""The black-box NAS loop: a :class:`~automl_nas.api.Proposer` asks, an
:class:`~automl_nas.api.Evaluator` scores, the proposer is told (higher is better).

Selection the way NAS-Bench-201 does it (Dong & Yang, ICLR 2020, §5): the proposer is told
``metric`` (e.g. ``cifar10_valid_12ep``, the 12-epoch validation accuracy) and the best cell
is chosen by it; ``report`` (e.g. ``cifar10``, the test accuracy) is only recorded and
reported for the chosen cell. With ``cost`` (a metric in seconds, e.g. ``cifar10_time_12ep``)
the time budget is *simulated*: each query spends its cost, and the search stops once the
budget is spent (the last query may cross it, as in NATS-Bench's ``simulate_train_eval``
loops), so results are comparable with the published ones.

Budgets: ``budget_queries`` evaluations and/or ``budget_seconds`` (wall clock, or simulated
seconds with ``cost``; 0 means no limit; at least one must be set). With ``parallel > 1`` up
to that many evaluations run at once as Ray tasks (for retraining evaluators), and one at a
time on Ray where the recipe names it (``executor.name = "ray"`` or ``executor.address``);
tabular lookups are fastest in-process.
"""

from __future__ import annotations

import contextlib

import math
import time
from pathlib import Path
from typing import Any, Callable

import attrs

from automl_nas.api import Genotype
from automl_nas.errors import AutomlError, DataError, RecipeError
from automl_nas.recipe.model import ExecutorConfig
from automl_nas.study.config import BlackboxConfig, BlackboxRunConfig, looks_like_a_cost

__all__ = ["BlackboxPlan", "evaluation_device", "plan_blackbox_recipe", "run_blackbox", "run_blackbox_recipe"]


#: In a hint raised while querying: the run directory is named where the search ends (or said gone).
_KEPT = "the finished queries are kept, and `automl search --resume DIR` continues from them"


class ContractBreach(Exception):
    """A proposer or evaluator returned what its interface does not allow (found here, not later
    as a host error): ``automl search`` names the component's plugin (exit 3)."""

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.kind, self.hint = kind, hint

    def __reduce__(self):  # back from a Ray worker whole (the default rebuilds it from the message alone)
        return type(self), (self.kind, str(self), self.hint)


def _score(evaluator: Any, genotype: Any, ctx: Any, names: tuple[str, ...]) -> dict[str, float]:
    """The evaluator's ``names`` metrics of ``genotype``; ``names[0]`` is the one the search ranks by."""
    from automl_nas.evaluation import returned_metrics_problem

    metrics = evaluator.evaluate(genotype, ctx)
    # a wrong return, or a declared metric left out, is the evaluator's: found here, not later as a host error
    problem = returned_metrics_problem(evaluator, metrics, names)
    if problem:
        raise ContractBreach("evaluator", problem, hint="an evaluator's evaluate() returns {metric name: number}, "
                                                        "every metric it declares included")
    missing = [n for n in names if n not in metrics]
    if missing:  # not declared: the recipe asked for a metric the evaluator does not say it has
        raise RecipeError(f"blackbox: evaluator {evaluator.name!r} returned no {missing} (it returns {sorted(metrics)})",
                          hint="set the evaluator's `metrics` to include blackbox.metric, .report and .cost")
    values = {n: float(metrics[n]) for n in names}
    if names and math.isnan(values[names[0]]):  # NaN compares false both ways: it became the best for good
        raise DataError(f"blackbox: evaluator {evaluator.name!r} gave {names[0]} = nan for {genotype.text}, which "
                        f"a search cannot rank",
                        hint="a table import keeps an empty field as nan: import a table with a value for every "
                             f"cell (the resumed search asks for the same cell again), or start a new search ranked by "
                             f"another metric; once the table has the value, {_KEPT}")
    return values


def run_blackbox(space: Any, proposer: Any, evaluator: Any, ctx: Any, budget_queries: int = 100,
                 budget_seconds: float = 0.0, parallel: int = 1, *, metric: str = "", seed: int = 0,
                 on_query: Callable[[dict], None] | None = None, report: str = "", cost: str = "",
                 replay: list[dict] = (), executor: ExecutorConfig | None = None, direction: str = "") -> dict[str, Any]:
    """Search ``space`` with ``proposer``; returns the history and the best genotype.

    Returns ``{"history": [{query, genotype, value, best, time_s[, report][, sim_time_s]}],
    "best_genotype", "best_value", "curve" (best value so far after each query), "queries",
    "seconds"}``, plus ``"report_metric"``, ``"best_report"`` (the report metric of the cell
    chosen by ``metric``) and ``"report_curve"`` with ``report``, and ``"simulated_seconds"``
    with ``cost``.

    Example:
        >>> run_blackbox(space, RegularizedEvolution(), table, EvalContext(space=space), 0, 12000,
        ...              metric="cifar10_valid_12ep", report="cifar10", cost="cifar10_time_12ep")  # doctest: +SKIP
    """
    if not budget_queries and not budget_seconds:
        raise RecipeError("blackbox: no budget; set `queries` and/or `seconds`")
    metric = metric or (tuple(evaluator.metrics) or ("",))[0]
    names = tuple(dict.fromkeys(n for n in (metric, report, cost) if n))
    sign = metric_sign(evaluator, metric, direction)
    proposer.setup(space, seed)
    loop = _Loop(budget_queries, budget_seconds, on_query, sign, metric=metric, report=report, cost=cost)
    outstanding = _replay(loop, proposer, replay)
    executor = executor or ExecutorConfig()
    if executor.uses_ray(parallel):
        _run_ray(loop, proposer, evaluator, ctx, names, parallel, executor, outstanding=outstanding)
    else:
        while loop.more(0):
            genotype = _ask(proposer, loop)
            if genotype is None:
                break
            values = _score(evaluator, genotype, ctx, names)
            proposer.tell(genotype, sign * values[metric])
            loop.record(genotype, values, origin=proposer.origin(genotype))
    return loop.summary()


def _ask(proposer: Any, loop: "_Loop") -> Any:
    """The proposer's next genotype, or ``None`` once it has none left (the loop then notes
    that the search ended by exhausting what the proposer reaches, not its budget)."""
    from automl_nas.api import SpaceExhausted

    try:
        genotype = proposer.ask()
    except SpaceExhausted as exc:
        loop.exhausted = str(exc) or "the proposer has no architecture left to propose"
        return None
    if not isinstance(genotype, Genotype):  # found later as a host AttributeError, an internal error
        raise ContractBreach("proposer", f"ask() returned {type(genotype).__name__}, not a Genotype",
                             hint="a proposer's ask() returns one of its space's genotypes (space.parse or space.derive)")
    return genotype


#: metric names that measure a cost (lower is better): a search that maximised one silently
#: chose the slowest or largest cell
def metric_sign(evaluator: Any, metric: str, direction: str = "") -> float:
    """+1 to maximise ``metric``, -1 to minimise it: ``direction`` when given; else the
    evaluator's ``higher_is_better`` for its first metric (the one it declares it for) and +1
    for another metric, except a cost-like name to be maximised, which must be given a direction
    (a table's first column may be a latency: the table's default, higher is better, does not
    make it one)."""
    if direction:
        return 1.0 if direction == "maximize" else -1.0
    first = (tuple(getattr(evaluator, "metrics", ())) or ("",))[0]
    sign = 1.0
    if not metric or metric == first:
        sign = 1.0 if getattr(evaluator, "higher_is_better", True) else -1.0
    name = metric or first
    if sign > 0 and looks_like_a_cost(name):
        said = f"blackbox.metric = {name!r}" if metric else f"blackbox.metric (unset: the evaluator's first metric, {name!r})"
        raise RecipeError(f"{said} looks like a cost, and the search maximises unless told: it would pick the worst "
                          f"cell", hint='set blackbox.direction = "minimize" (or "maximize" if higher really is better)')
    return sign


def _replay(loop: "_Loop", proposer: Any, entries: list[dict]) -> list[tuple[int, Any]]:
    """Resume: ask the (seeded, deterministic) proposer again and tell it the recorded scores
    instead of evaluating, so it stands where the interrupted search stopped. Parallel
    evaluations (Ray) were told as they ended: each record says which ask it answers
    (``asked``) and how many asks had been made when it was told (``asks``), so asks and tells
    are replayed in their interleaving. Returns ``[(ask index, genotype)]`` asked but never told
    (in flight when the search stopped): they are evaluated first."""
    from automl_nas.errors import RunError
    from automl_nas.records.strict_json import nan_if_none

    on_query, loop.on_query = loop.on_query, None  # recorded already
    simulated = 0.0
    asked: list[Any] = []
    for entry in entries:
        index, asks = entry.get("asked", entry["query"]), entry.get("asks", entry["query"] + 1)
        while len(asked) < asks:
            asked.append(proposer.ask())
        genotype = asked[index]
        if genotype.text != entry["genotype"]:
            raise RunError(f"resume: the proposer asks {genotype.text} where the run asked {entry['genotype']} "
                           f"(query {entry['query']}); it does not repeat its proposals",
                           hint="resume only searches whose proposer is deterministic for its seed (every shipped one)")
        value = _recorded_value(entry, loop.sign)
        values = {loop.metric: value}
        if loop.report:  # a NaN report was written as null; an infinite one says its sign
            values[loop.report] = float(entry.get("report_nonfinite") or nan_if_none(entry["report"]))
        if loop.cost:
            values[loop.cost], simulated = entry["sim_time_s"] - simulated, entry["sim_time_s"]
        proposer.tell(genotype, loop.sign * value)
        loop.record(genotype, values, asked=entry.get("asked"), asks=entry.get("asks"), origin=proposer.origin(genotype))
        loop.history[-1]["time_s"] = entry["time_s"]
    if entries:  # the wall clock goes on from where the interrupted search stopped: its budget is not renewed
        loop.started = time.perf_counter() - entries[-1]["time_s"]
    loop.asks = len(asked)
    loop.on_query = on_query
    told = {entry.get("asked", entry["query"]) for entry in entries}
    return [(i, g) for i, g in enumerate(asked) if i not in told]


def _recorded_value(entry: dict, sign: float) -> float:
    """A query's recorded score. Strict JSON writes an infinite one (NASWOT's -inf for a cell whose
    units never differ) as null, and ``value_nonfinite`` keeps its sign; a record written before it
    was the worst score (the only null a search wrote: NaN is refused)."""
    if entry["value"] is not None:
        return float(entry["value"])
    return float(entry.get("value_nonfinite") or ("-inf" if sign > 0 else "inf"))


class _Loop:
    def __init__(self, queries: int, seconds: float, on_query, sign: float, *, metric: str, report: str = "",
                 cost: str = "") -> None:
        self.queries, self.seconds, self.on_query, self.sign = queries, seconds, on_query, sign
        self.metric, self.report, self.cost = metric, report, cost
        self.started = time.perf_counter()
        self.simulated = 0.0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.asks = 0  # proposals asked for so far (parallel evaluations: more than told)
        self.exhausted = ""  # why the proposer had nothing left, when it ended the search

    def more(self, outstanding: int) -> bool:
        if self.queries and len(self.history) + outstanding >= self.queries:
            return False
        spent = self.simulated if self.cost else time.perf_counter() - self.started
        return not self.seconds or spent < self.seconds

    def record(self, genotype: Any, values: dict[str, float], *, asked: int | None = None,
               asks: int | None = None, origin: dict[str, Any] | None = None) -> None:
        value = values[self.metric]
        if self.best is None or self.sign * value > self.sign * self.best["value"]:
            self.best = {"value": value, "genotype": genotype.text, "report": values.get(self.report)}
        self.simulated += values.get(self.cost, 0.0) if self.cost else 0.0
        entry = {"query": len(self.history), "genotype": genotype.text, "value": value, "best": self.best["value"],
                 "time_s": round(time.perf_counter() - self.started, 4)}
        if not math.isfinite(value):  # null in strict JSON: the sign is what a resume tells the proposer
            entry["value_nonfinite"] = str(value)
        if self.report:
            entry.update(report=values[self.report], best_report=self.best["report"])
            if math.isinf(values[self.report]):
                entry["report_nonfinite"] = str(values[self.report])
        if self.cost:
            entry["sim_time_s"] = round(self.simulated, 3)
        if asked is not None:  # told out of ask order (parallel evaluations): what a resume replays
            entry.update(asked=asked, asks=asks)
        if origin:  # e.g. the network-morphism parent and edits
            taken = sorted(set(origin) & set(entry))
            if taken:  # the record's own keys, which show and a resume read back
                raise ContractBreach("proposer", f"origin() returned the key(s) {', '.join(map(repr, taken))}, which "
                                                 f"the query's record uses", hint="name origin()'s keys otherwise")
            entry.update(origin)
        self.history.append(entry)
        if self.on_query is not None:
            self.on_query(entry)

    def summary(self) -> dict[str, Any]:
        best = self.best or {}
        out = {"metric": self.metric, "history": self.history, "best_genotype": best.get("genotype"),
               "best_value": best.get("value"), "curve": [h["best"] for h in self.history],
               "queries": len(self.history), "seconds": round(time.perf_counter() - self.started, 3)}
        if self.report:
            out.update(report_metric=self.report, best_report=best.get("report"),
                       report_curve=[h["best_report"] for h in self.history])
        if self.cost:
            out["simulated_seconds"] = round(self.simulated, 3)
        if self.exhausted:
            out.update(exhausted=True, exhausted_reason=self.exhausted)
        return out


def _run_ray(loop: _Loop, proposer, evaluator, ctx, names: tuple[str, ...], parallel: int,
             executor: ExecutorConfig, outstanding: list[tuple[int, Any]] = ()) -> None:
    # The tool's one Ray connection (RAY_ADDRESS or a private local Ray; on a cluster the working
    # directory travels with the job) and its retry policy; the evaluator, its data and the
    # context travel through the object store.
    from automl_nas.execution.cluster import RaySession, nodes_not_seeing, ray_task_options

    with RaySession(batch_dir=Path(ctx.run_dir) if ctx.run_dir else Path.cwd(),
                    address=executor.address or None, cpus=executor.cpus, gpus=executor.gpus) as session:
        import ray

        if session.cluster and ctx.data is not None and ctx.run_dir is not None:
            # An evaluator that trains keeps its artefacts (checkpoints, warm-start parents) in
            # the run directory and reads earlier ones back: every node must see it in place.
            blind = nodes_not_seeing(Path(ctx.run_dir).resolve())  # a relative path names the worker's working directory
            if blind:
                from automl_nas.errors import RunError

                raise RunError(f"{ctx.run_dir}: evaluator {evaluator.name!r} trains and keeps its artefacts in the "
                               f"search's run directory, which {len(blind)} Ray node(s) of the cluster do not see "
                               f"({', '.join(n[:8] for n in blind)})",
                               hint="pass --run-dir on a file system every node mounts at the same path, or run "
                                    "the search on one machine (unset RAY_ADDRESS and executor.address)")

        remote = ray.remote(_score).options(**ray_task_options(executor.cpus, executor.gpus, executor.retries))
        shared = ray.put(evaluator), ray.put(ctx)
        pending: dict[Any, tuple[int, Any]] = {}
        waiting = list(outstanding)  # asked before a resume, never told: evaluated first
        while True:
            while len(pending) < parallel and (waiting or loop.more(len(pending))):
                if waiting:
                    index, genotype = waiting.pop(0)
                else:
                    genotype = None if loop.exhausted else _ask(proposer, loop)
                    if genotype is None:  # nothing left to ask: the evaluations in flight finish
                        break
                    index = loop.asks
                    loop.asks += 1
                pending[remote.remote(shared[0], genotype, shared[1], names)] = (index, genotype)
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            index, genotype = pending.pop(ref)
            try:
                values = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                if isinstance(exc.cause, (AutomlError, ContractBreach)):  # its own message, not Ray's traceback of it
                    raise exc.cause from None
                if isinstance(exc.cause, Exception):  # raised under _score: the evaluator's (the host adds no code there)
                    from automl_nas.errors import one_line

                    raise ContractBreach("evaluator", f"failed on {genotype.text}: {one_line(exc.cause)}",
                                         hint="fix or update the plugin (the traceback is the Ray worker's: "
                                              "AUTOML_NAS_DEBUG=1 shows it)") from exc
                raise
            proposer.tell(genotype, loop.sign * values[loop.metric])
            loop.record(genotype, values, asked=index, asks=loop.asks, origin=proposer.origin(genotype))


def _progress(message: str) -> None:
    """A progress line on stderr."""
    import click

    click.echo(message, err=True)


def _progress_of(entry: dict, budget: int) -> str:
    """``"4/8 ETA 0m12s"`` for a history entry of a search with a ``budget`` of queries (``"4"``
    under a time budget only). The rate is the search's own clock (``time_s``, which a resume
    continues without its replay): the time since a resume's start counted the replay against
    its first new query (an ETA of hours for seconds)."""
    from automl_nas.builtin.progress import fmt_duration

    done = entry["query"] + 1
    if not budget:
        return f"{done:4d}"
    return f"{done:4d}/{budget} ETA {fmt_duration(entry['time_s'] / done * max(budget - done, 0))}"


def _kept_queries(run_dir: Path) -> str:
    """``"12 queries; they are kept in DIR/history.jsonl"``."""
    from automl_nas.records.rundir import read_jsonl

    done = len(read_jsonl(run_dir / "history.jsonl"))
    return f"{done} quer{'y; it is' if done == 1 else 'ies; they are'} kept in {run_dir / 'history.jsonl'}"


def _so_far(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with the queries recorded so far and the best of them (for a stopped search's
    stdout; its result.json is written only when it finishes)."""
    from automl_nas.records.rundir import read_jsonl

    history = read_jsonl(run_dir / "history.jsonl")
    summary["queries"] = len(history)
    if history:
        best = history[-1]["best"]
        chosen = next((e for e in history if e["value"] == best), history[-1])
        summary.update(best_value=best, best_genotype=chosen["genotype"])
    return summary


def _plugin_fault(exc: Exception, plan: "BlackboxPlan", run_dir: Path) -> AutomlError | None:
    """A proposer's or evaluator's bug (its code is in the traceback) as the plugin error that names
    it, with the queries kept; ``None`` for the host's own fault."""
    from automl_nas.engine.blame import blamed_component
    from automl_nas.errors import interface_breach, plugin_failure

    if isinstance(exc, AutomlError):  # raised on purpose, with its own fix (a table without the cell)
        return None
    if isinstance(exc, ContractBreach):
        component = next((c for c in plan.components if c.kind == exc.kind), None)
        return None if component is None else interface_breach(component, str(exc), hint=f"{exc.hint}; {_KEPT}")
    component = blamed_component(exc, plan.components)
    if component is None:
        return None
    return plugin_failure(exc, subject=f"{component.kind.replace('_', ' ')} {component.name!r}", plugin=component.plugin,
                          dist=component.dist, action="failed during the search",
                          hint=f"fix or update the plugin (AUTOML_NAS_DEBUG=1 shows the traceback); {_KEPT}")


def _finished_result(run_dir: Path) -> dict | None:
    """``result.json`` of a finished search in ``run_dir``, else ``None``."""
    from automl_nas.records.trial import read_trial_result

    result = read_trial_result(run_dir)
    return result if result is not None and result.get("status") == "finished" else None


def _component(registry, kind: str, ref, key: str, source: str, build: bool = True):
    """The built component of ``ref``; with ``build=False`` its checked options only (no import
    of the implementation: ``automl validate`` stays free of torch)."""
    from automl_nas.recipe.resolve import resolve_ref

    return _checked(registry, resolve_ref(registry, kind, ref, key=key, source=source), source, build)


def _checked(registry, resolved: Any, source: str, build: bool = True):
    """``resolved`` (a :class:`~automl_nas.recipe.resolve.Resolved`) after its preflight: built,
    or with ``build=False`` its options only."""
    from automl_nas.preflight import preflight_config

    if resolved.config is not None:  # e.g. the table is installed (issue 13)
        preflight_config(resolved.config, resolved.component.name, where=f"{source}: {resolved.key}")
    return resolved.build(registry) if build else resolved.config


def _asking_for(raw_evaluator: Any, cfg: Any, registry: Any) -> Any:
    """The evaluator table with ``metrics`` = what the loop reads (metric, report, cost), when the
    evaluator has a ``metrics`` option the recipe left unset."""
    wanted = [n for n in dict.fromkeys((cfg.metric, cfg.report, cfg.cost)) if n]
    if not wanted or not isinstance(raw_evaluator, dict) or "metrics" in raw_evaluator:
        return raw_evaluator
    try:
        config = registry.get("evaluator", str(raw_evaluator.get("name"))).config
    except RecipeError:
        return raw_evaluator  # reported by _component with did-you-mean
    fields = getattr(config, "__attrs_attrs__", ())
    if any(f.name == "metrics" for f in fields):
        return {**raw_evaluator, "metrics": wanted}
    return raw_evaluator


def _check_metric_names(cfg: BlackboxConfig, evaluator: Any, source: str) -> None:
    """blackbox.metric, .report and .cost against the metrics the evaluator declares, before the
    run directory exists (the first query's result named a wrong one, in a run directory that
    then refused the corrected command). An evaluator that declares none is checked per query."""
    from automl_nas.evaluation import check_reported

    for key, name in (("metric", cfg.metric), ("report", cfg.report), ("cost", cfg.cost)):
        check_reported(evaluator, name, where=f"{source}: blackbox.{key} = {name!r}",
                       hint=f"set blackbox.{key} to one of the evaluator's metrics")


@attrs.frozen(kw_only=True)
class BlackboxPlan:
    """A checked black-box recipe (:func:`plan_blackbox_recipe`). ``space``, ``evaluator`` and
    ``proposer`` are built components, or with ``build=False`` their checked options."""

    raw: dict
    config: BlackboxConfig
    space: Any
    evaluator: Any
    proposer: Any
    run: BlackboxRunConfig
    executor: ExecutorConfig
    #: the space's, evaluator's and proposer's registry entries: whose plugin a bug came from
    components: tuple = ()


def plan_blackbox_recipe(path: str | Path, *, profile: str | None = None, overrides=(), build: bool = True,
                         session: Any = None) -> BlackboxPlan:
    """Read and check a black-box recipe; with ``build=False`` (``automl validate``: no torch)
    nothing is built."""
    from automl_nas.recipe import name_key_origins

    try:
        return _plan_blackbox_recipe(path, profile=profile, overrides=overrides, build=build, session=session)
    except RecipeError as exc:
        name_key_origins(exc, path, profile, overrides)
        raise


def _plan_blackbox_recipe(path: str | Path, *, profile: str | None, overrides, build: bool,
                          session: Any) -> BlackboxPlan:
    from automl_nas.recipe import load_overridden
    from automl_nas.recipe.converter import structure
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.resolve import resolve_ref, space_clash
    from automl_nas.session import open_session
    from automl_nas.study.config import BlackboxRecipe, load_blackbox_config, load_blackbox_run

    source = str(path)
    raw = load_overridden(path, profile=profile, overrides=overrides)
    structure(raw, BlackboxRecipe, source=source)
    cfg = load_blackbox_config(raw.get("blackbox"), source=source)
    run = load_blackbox_run(raw.get("run"), source=source)
    executor = _executor_config(raw, source)
    for key in ("space", "evaluator"):
        if key not in raw:
            raise RecipeError(f"{source}: [{key}] is required by `automl search`")
    registry = (session or open_session()).registry
    space_ref = structure(raw["space"], ComponentRef, source=source, prefix="space")
    evaluator_ref = structure(_asking_for(raw["evaluator"], cfg, registry), ComponentRef, source=source,
                              prefix="evaluator")
    space_resolved = resolve_ref(registry, "search_space", space_ref, key="space", source=source)
    evaluator_resolved = resolve_ref(registry, "evaluator", evaluator_ref, key="evaluator", source=source)
    clash = space_clash(space_resolved, evaluator_resolved)
    if clash:  # a table without rows for part of the space: found at the first such query otherwise
        raise RecipeError(f"{source}: evaluator: {clash}")
    space = _checked(registry, space_resolved, source, build)
    evaluator = _checked(registry, evaluator_resolved, source, build)
    proposer = _component(registry, "proposer", cfg.proposer, "blackbox.proposer", source, build)
    blackbox_data(raw, registry, source, build=False)  # checked (the file exists) before any query
    if build:
        _check_metric_names(cfg, evaluator, source)
        try:
            metric_sign(evaluator, cfg.metric, cfg.direction)  # a cost it would maximise: before the directory exists
        except RecipeError as exc:
            raise RecipeError(f"{source}: {exc.message}", hint=exc.hint) from None
    components = (space_resolved.component, evaluator_resolved.component,
                  registry.get("proposer", cfg.proposer.name))
    return BlackboxPlan(raw=raw, config=cfg, space=space, evaluator=evaluator, proposer=proposer, run=run,
                        components=components,
                        executor=executor)


def evaluation_device(run: BlackboxRunConfig, cfg: BlackboxConfig, executor: ExecutorConfig) -> str:
    """Where each evaluation trains or scores (``EvalContext.device``; an evaluator's own device
    option wins): ``run.device`` as a one-shot run reads it (``auto``: CUDA when a GPU is
    visible); on Ray (:meth:`ExecutorConfig.uses_ray`) the evaluation's GPU reservation, as a seed
    trial's (:func:`~automl_nas.execution.trials.reserved_device`). Resolved before the first
    query, so a CUDA device this machine lacks is refused before any work."""
    from automl_nas.devices import resolve_device
    from automl_nas.execution.trials import reserved_device

    if executor.uses_ray(cfg.parallel):
        return reserved_device(run.device, executor.gpus, what="evaluation")
    return resolve_device(run.device)


def blackbox_data(raw: dict, registry: Any, source: str, *, build: bool = True) -> Any:
    """The images of an optional ``[data]`` table (``name`` + the data set's options), loaded for
    evaluators that train (``retrain``); ``None`` without one (table lookups need none)."""
    from automl_nas.recipe.converter import structure
    from automl_nas.recipe.model import ComponentRef

    if "data" not in raw:
        return None
    provider = _component(registry, "dataset", structure(raw["data"], ComponentRef, source=source, prefix="data"),
                          "data", source, build)
    return provider.load() if build else None


def checked_data(plan: BlackboxPlan, registry: Any, source: str) -> Any:
    """The recipe's ``[data]`` loaded (:func:`blackbox_data`) and checked against the built space
    and evaluator (the network fits the images, the evaluator needs no data it lacks)."""
    from automl_nas.evaluation import check_fit

    data = blackbox_data(plan.raw, registry, source)
    check_fit(plan.components[1], plan.evaluator, plan.space, data, where=f"{source}: evaluator")
    return data


def _executor_config(raw: dict, source: str) -> ExecutorConfig:
    """Resources, retries and cluster of each parallel evaluation, from the recipe's ``[executor]``:
    checked as a one-shot recipe's (a typo such as ``gpu`` is refused, not dropped), and refused
    where it asks for what an evaluation does not do."""
    from automl_nas.recipe.converter import structure

    cfg = structure(raw.get("executor") or {}, ExecutorConfig, source=source, prefix="executor")
    unused = [k for k, default in (("ranks", 1), ("storage", "")) if getattr(cfg, k) != default]
    if unused:
        raise RecipeError(f"{source}: executor.{unused[0]}: not used by `automl search`, which runs each evaluation in "
                          f"one process and keeps its records in the search's run directory",
                          hint=f"remove executor.{unused[0]} (`automl search` reads executor.name, cpus, gpus, "
                               f"retries and address, for evaluations on Ray)")
    return cfg


def run_blackbox_recipe(path: str | Path | None, *, profile: str | None = None, overrides=(), run_dir=None,
                        quiet: bool = False, session: Any = None, resume: str | Path | None = None) -> dict[str, Any]:
    """``automl search``: read ``[space]``, ``[evaluator]``, ``[blackbox]`` and run the loop.

    Writes ``recipe.toml`` (the recipe as given) with ``search.json`` (profile, overrides),
    ``history.jsonl`` and ``result.json`` into the run directory. ``resume`` continues such a
    directory: the recorded queries are replayed into the proposer, then the search goes on
    (a retraining evaluator also resumes an interrupted training from its checkpoint).
    """

    if resume is not None:
        rd_resume = Path(resume)
        if not (rd_resume / "search.json").exists():
            raise RecipeError(f"{rd_resume} is not a black-box search directory (search.json is missing)",
                              hint="pass the run_dir `automl search` printed")
        finished = _finished_result(rd_resume)
        if finished is not None:  # its result.json stays as the search wrote it
            if not quiet:
                _progress(f"{rd_resume} is a finished search; nothing to resume (see `automl show {rd_resume}`)")
            return finished
        saved = saved_settings(rd_resume)
        path, profile, overrides, run_dir = rd_resume / "recipe.toml", saved["profile"], saved["overrides"], rd_resume
    from automl_nas.records.rundir import RunDir
    from automl_nas.session import open_session

    session = session or open_session()
    plan = plan_blackbox_recipe(path, profile=profile, overrides=overrides, session=session)
    raw, cfg, run, executor = plan.raw, plan.config, plan.run, plan.executor
    name, seed = raw.get("name", Path(path).stem), int(raw.get("seed", 0))
    device = evaluation_device(run, cfg, executor)
    joined = contextlib.nullcontext()
    if executor.uses_ray(cfg.parallel):  # a head that is unreachable or refuses the token: no run directory
        from automl_nas.execution.cluster import joined_cluster

        joined = joined_cluster(executor.address or None, run_dir or run.root, quiet=quiet, cpus=executor.cpus,
                                gpus=executor.gpus, source=str(path))
    with joined:
        if resume is None:
            from automl_nas.records.job_copy import refuse_job_copy

            refuse_job_copy(run_dir or run.root, key="--run-dir or run.root")
        continued = {"resume": "automl search --resume", "continues_from": "search.json"}
        rd = (RunDir(Path(resume), **continued) if resume is not None
              else RunDir.new(run.root, f"{name}-blackbox", run_dir, **continued))
        data = checked_data(plan, session.registry, str(path))  # a bad data file is refused before the directory exists
        existed = rd.path.exists()
        try:
            return _search_in(rd, path, profile, overrides, resume, quiet, plan, data, name, seed, device)
        except Exception as exc:
            from automl_nas.errors import Interrupted, RunError

            if resume is None and not isinstance(exc, (RunError, Interrupted)) and rd.path.is_dir():
                _forget_unused(rd.path, existed)
            if isinstance(exc, AutomlError) and exc.hint and _KEPT in exc.hint:
                exc.hint = exc.hint.replace(_KEPT, f"the finished queries are kept, and `automl search --resume "
                                                   f"{rd.path}` continues from them" if (rd.path / "recipe.toml").exists()
                                            else "no query had finished, so the search kept no directory: run it again "
                                                 "once that is mended")
            raise


def saved_settings(path: Path) -> dict[str, Any]:
    """``search.json`` of a search directory: the ``profile`` and ``overrides`` it was started
    with; a damaged file is a :class:`~automl_nas.errors.RunError` naming it (it was an
    internal error)."""
    import json

    from automl_nas.errors import RunError

    file = Path(path) / "search.json"
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or not isinstance(saved.get("overrides", []), list):
            raise ValueError("not an object with 'profile' and 'overrides'")
    except (OSError, ValueError) as exc:
        raise RunError(f"{file}: not a readable record of how the search was started ({type(exc).__name__}: {exc})",
                       hint="restore it from a copy, or write it again with the --profile and --set the search was "
                            "started with: {\"profile\": \"quick\", \"overrides\": []} (null for no profile)") from None
    return {"profile": saved.get("profile"), "overrides": list(saved.get("overrides", []))}


def _forget_unused(path: Path, existed: bool) -> None:
    """A fresh search that failed before its first recorded query (a space the table does not
    cover, a network the images are too small for, a plugin's bug) leaves no directory behind:
    its `--resume` could only fail the same way (it refuses --set) and the same --run-dir would
    be refused as used. An interrupted search, or one that lost its Ray cluster, keeps it."""
    from automl_nas.records.lock import LOCK_NAME
    from automl_nas.records.rundir import read_jsonl

    written = {"recipe.toml", "search.json", "history.jsonl", "checkpoints", LOCK_NAME}
    children = list(path.iterdir())
    # Only a directory holding nothing but what a starting search writes (and no query) goes; an
    # evaluator's partial work (a retraining's checkpoints) or anything else keeps all of it.
    if read_jsonl(path / "history.jsonl") or any(c.name not in written for c in children):
        return
    if (path / "checkpoints").is_dir() and any((path / "checkpoints").iterdir()):
        return
    for child in children:
        child.rmdir() if child.is_dir() else child.unlink(missing_ok=True)
    if not existed:  # the user's own empty directory stays, empty
        path.rmdir()


def _search_in(rd: Any, path: str | Path, profile: str | None, overrides: Any, resume: str | Path | None, quiet: bool,
               plan: BlackboxPlan, data: Any, name: str, seed: int, device: str) -> dict[str, Any]:
    """The search in ``rd`` (a :class:`~automl_nas.records.rundir.RunDir`), once everything it
    needs is built and checked."""
    import click

    from automl_nas.api.evaluator import EvalContext
    from automl_nas.errors import Interrupted
    from automl_nas.interrupts import sigterm_as_ctrl_c
    from automl_nas.records.rundir import atomic_write_json, read_jsonl
    from automl_nas.records.schema import SCHEMA_VERSION

    cfg, space, evaluator, proposer, executor = plan.config, plan.space, plan.evaluator, plan.proposer, plan.executor
    with rd.claim(fresh=resume is None):  # locked; a fresh run is refused a directory that holds one
        replay: list[dict] = []
        if resume is None:
            rd.write_text(rd.recipe_file, Path(path).read_text())
            atomic_write_json(rd.path / "search.json", {"profile": profile, "overrides": list(overrides)},
                              hint=rd.write_hint)
        else:
            replay = read_jsonl(rd.path / "history.jsonl")  # a last line cut by a crash is skipped ...
            rd.truncate_jsonl(rd.path / "history.jsonl", len(replay), key="query")  # ... and removed

        def on_query(entry: dict) -> None:
            rd.append_jsonl(rd.path / "history.jsonl", entry)
            if not quiet:
                click.echo(f"query {_progress_of(entry, cfg.queries)}  {entry['value']:.4f}  "
                           f"best {entry['best']:.4f}  {entry['genotype']}", err=True)

        ctx = EvalContext(space=space, data=data, device=device, seed=seed, run_dir=rd.path,
                          log=(lambda _m: None) if quiet else _progress)  # stdout carries the JSON summary only
        try:
            with sigterm_as_ctrl_c():
                out = run_blackbox(space, proposer, evaluator, ctx, cfg.queries, cfg.seconds, cfg.parallel,
                                   metric=cfg.metric, seed=seed, on_query=on_query, report=cfg.report, cost=cfg.cost,
                                   direction=cfg.direction,
                                   replay=replay, executor=executor)
        except KeyboardInterrupt:
            stopped = Interrupted(f"search stopped after {_kept_queries(rd.path)}",
                                  hint=f"continue with `automl search --resume {rd.path}`")
            ranked_by = cfg.metric or (tuple(evaluator.metrics) or ("",))[0]  # as run_blackbox chose it
            stopped.result = _so_far(rd.path, {"status": "interrupted", "proposer": cfg.proposer.name,
                                               "metric": ranked_by, "run_dir": str(rd.path)})
            raise stopped from None
        except Exception as exc:
            from automl_nas.errors import RunError
            from automl_nas.execution.cluster import lost_to_ray, short_error

            if not lost_to_ray(exc):
                failure = _plugin_fault(exc, plan, rd.path)
                if failure is None:
                    raise  # the host's own fault: the CLI reports an internal error
                raise failure from exc
            raise RunError(f"search stopped: Ray lost a worker, a node or its head ({type(exc).__name__}: "
                           f"{short_error(exc)}) after {_kept_queries(rd.path)}",
                           hint=f"continue with `automl search --resume {rd.path}` once the cluster is back (or "
                                f"without RAY_ADDRESS and executor.address, on this machine)") from None
        from automl_nas.evaluation import evaluator_source

        result = {"status": "finished", "recipe": name, "proposer": cfg.proposer.name, "space": space.name, "seed": seed,
                  "device": device, "evaluator_source": evaluator_source(plan.evaluator),
                  **{k: v for k, v in out.items() if k != "history"}, "run_dir": str(rd.path),
                  "schema_version": SCHEMA_VERSION}
        # A black-box search's result.json shares RunResult's identity and status keys (so `automl show`
        # and RunResult.from_json read it) and adds the search's own: best, queries, evaluations.
        atomic_write_json(rd.result_file, result, hint=rd.write_hint)
        if out.get("exhausted"):  # finished before its budget: said even with -q
            click.echo(f"automl: warning: the search ended after {out['queries']} of {cfg.queries or 'unlimited'} "
                       f"queries: {out['exhausted_reason']}", err=True)
        return result
