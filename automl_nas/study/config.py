"""The ``[study]`` and ``[blackbox]`` recipe tables as frozen attrs classes (light: no optuna).

Example ``[study]`` table::

    [study]
    name = "snas-temperature"
    metric = "metrics.cifar10"          # dotted path into result.json
    direction = "maximize"
    trials = 30
    parallelism = 2                     # > 1 runs trials on Ray
    sampler = "tpe"                     # tpe | random | nsga2
    pruner = "median"                   # median | percentile | successive_halving | hyperband | none
    intermediate = "eval.cifar10"       # per-epoch key the pruner sees (dotted: nested in the epoch record)
    [study.params]
    "search.sampler.temperature.start" = { type = "float", low = 1, high = 20, log = true }
    "search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-2, log = true }
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from attrs import validators as v

from automl_nas.devices import device_option
from automl_nas.errors import RecipeError
from automl_nas.recipe.model import MAX_SEED, ComponentRef

__all__ = ["ParamSpec", "StudyConfig", "BlackboxConfig", "BlackboxRecipe", "BlackboxRunConfig", "load_study_config", "load_blackbox_config",
           "load_blackbox_run"]

DIRECTIONS = ("maximize", "minimize")
PRUNERS = ("median", "percentile", "successive_halving", "hyperband", "none")


def _check_range(inst: "ParamSpec", attribute: attrs.Attribute, value: Any) -> None:
    # Options the type does not read were dropped in silence (a forgotten `type = "categorical"`).
    unread = ([k for k in ("low", "high", "step") if getattr(inst, k) is not None] + (["log"] if inst.log else [])
              if inst.type == "categorical" else (["choices"] if inst.choices is not None else []))
    if unread:
        raise ValueError(f"a {inst.type} parameter does not read {', '.join(unread)}: "
                         + ("give `choices` alone" if inst.type == "categorical"
                            else "give low and high (and step or log), or `type = \"categorical\"` with choices"))
    if inst.type == "categorical":
        if not inst.choices:
            raise ValueError("a categorical parameter needs a non-empty `choices` list")
        tables = [c for c in inst.choices if isinstance(c, dict)]
        if tables:  # its override would be a JSON string, which no recipe key takes for a table
            raise ValueError(f"a choice cannot be a table ({tables[0]!r}); tune the table's keys as parameters "
                             f"of their own (e.g. \"search.arch_optimizer.lr\"), or choose among strings, numbers, "
                             f"booleans or lists")
        return
    if inst.low is None or inst.high is None:
        raise ValueError(f"a {inst.type} parameter needs `low` and `high`")
    for name in ("low", "high", "step"):
        value = getattr(inst, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number (got {value})")
        if value is not None and inst.type == "int" and value != int(value):
            raise ValueError(f"an int parameter needs whole numbers: {name} = {value}")
    if inst.low > inst.high:
        raise ValueError(f"low ({inst.low}) must not exceed high ({inst.high})")
    if inst.log and inst.low <= 0:
        raise ValueError(f"log = true needs low > 0 (got {inst.low})")
    if inst.step is not None and inst.step <= 0:
        raise ValueError(f"step must be > 0 (got {inst.step})")
    if inst.step is not None and inst.log and not (inst.type == "int" and inst.step == 1):
        raise ValueError("step and log = true exclude each other (a log scale has no fixed step); drop one")
    if inst.step is not None and inst.high > inst.low:
        # Optuna lowers high to the last whole step, with a warning only: a step past the range tuned nothing.
        steps = (inst.high - inst.low) / inst.step
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
            last = inst.low + math.floor(steps + 1e-9) * inst.step
            shown = int(last) if inst.type == "int" else round(last, 12)
            raise ValueError(f"high - low = {inst.high - inst.low:g} is not a whole number of steps of {inst.step:g}, "
                             f"so Optuna would sample up to {shown} only"
                             + ("; nothing would be tuned: set a step that divides the range" if steps < 1
                                else f"; set high = {shown} or a step that divides the range"))


@attrs.frozen(kw_only=True)
class ParamSpec:
    """One tuned recipe key; its value becomes a ``--set KEY=VALUE`` override of the trial."""

    type: str = attrs.field(default="float", validator=v.in_(("float", "int", "categorical")),
                            metadata={"help": "float, int or categorical"})
    low: float | None = attrs.field(default=None, metadata={"help": "lower bound (float, int)"})
    high: float | None = attrs.field(default=None, metadata={"help": "upper bound, inclusive (float, int)"})
    log: bool = attrs.field(default=False, metadata={"help": "sample on a log scale"})
    step: float | None = attrs.field(default=None, metadata={"help": "discretisation step (float, int)"})
    choices: list[Any] | None = attrs.field(default=None, validator=_check_range,
                                            metadata={"help": "values of a categorical parameter"})


def _directions(inst: "StudyConfig", attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    # The attribute travels with the message: the error names study.directions, not study.
    bad = [d for d in value if d not in DIRECTIONS]
    if bad:
        raise ValueError(f"must be {DIRECTIONS[0]!r} or {DIRECTIONS[1]!r}, got {bad}", attribute)
    if inst.metrics is None or len(inst.metrics) != len(value):
        raise ValueError("needs a `metrics` list of the same length", attribute)


@attrs.frozen(kw_only=True)
class StudyConfig:
    """Settings of ``automl study``; see the module docstring for an example."""

    name: str = attrs.field(default="", metadata={"help": "study name (default: <recipe>-study, or the recipe's name if it ends in 'study')"})
    params: dict[str, ParamSpec] = attrs.field(factory=dict, metadata={"help": "dotted recipe key -> range"})
    metric: str = attrs.field(default="", metadata={"help": "dotted path into result.json, e.g. metrics.cifar10"})
    direction: str = attrs.field(default="maximize", validator=v.in_(DIRECTIONS), metadata={"help": "maximize or minimize"})
    metrics: list[str] | None = attrs.field(default=None, metadata={"help": "several metrics (multi-objective)"})
    directions: list[str] | None = attrs.field(default=None, validator=_directions,
                                               metadata={"help": "one direction per entry of `metrics`"})
    trials: int = attrs.field(default=20, validator=v.gt(0), metadata={"help": "finished (complete or pruned) trials to reach"})
    parallelism: int = attrs.field(default=1, validator=v.gt(0), metadata={"help": "trials at once; > 1 runs them on Ray"})
    sampler: str = attrs.field(default="tpe", validator=v.in_(("tpe", "random", "nsga2")), metadata={"help": "tpe, random or nsga2"})
    pruner: str = attrs.field(default="median", validator=v.in_(PRUNERS), metadata={"help": ", ".join(PRUNERS)})
    intermediate: str = attrs.field(default="valid_acc",
                                    metadata={"help": "epoch-record key reported to the pruner, dotted for nested ones "
                                                      "(eval.cifar10); same direction as the study"})
    prune_percentile: float = attrs.field(default=25.0, validator=[v.gt(0), v.lt(100)],
                                          metadata={"help": "percentile pruner: a trial goes on only while it is among the best "
                                                            "prune_percentile percent of the trials at its epoch (Optuna's "
                                                            "PercentilePruner; 50 is the median pruner)"})
    prune_startup_trials: int = attrs.field(default=5, validator=v.ge(0),
                                            metadata={"help": "finished trials before the median pruner acts"})
    prune_warmup_epochs: int = attrs.field(default=0, validator=v.ge(0),
                                           metadata={"help": "epochs of a trial that are never pruned"})
    storage: str = attrs.field(default="", metadata={"help": "Optuna storage: sqlite:///PATH, a database URL, or journal:PATH "
                                                                 "(a journal file: NFS, many drivers); default sqlite:///<study dir>/study.db"})
    root: str = attrs.field(default="", metadata={"help": "parent of study directories (default: <run.root>/studies)"})
    # Bounded as the recipe's seed: Optuna's samplers refused others with an internal error, after study.db was made.
    seed: int | None = attrs.field(default=None, validator=v.optional([v.ge(0), v.le(MAX_SEED)]),
                                   metadata={"help": f"sampler seed, 0 .. {MAX_SEED} (default: the recipe's seed)"})

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """``[(metric, direction), ...]``; one entry unless multi-objective."""
        if self.metrics:
            return list(zip(self.metrics, self.directions or ["maximize"] * len(self.metrics)))
        return [(self.metric, self.direction)]


@attrs.frozen(kw_only=True)
class BlackboxConfig:
    """The ``[blackbox]`` table of ``automl search``."""

    proposer: ComponentRef = attrs.field(metadata={"help": "proposer name or table (random, rea, reinforce, tpe)"})
    queries: int = attrs.field(default=100, validator=v.ge(0), metadata={"help": "evaluations (0: no limit)"})
    seconds: float = attrs.field(default=0.0, validator=v.ge(0), metadata={"help": "wall-clock budget (0: no limit)"})
    metric: str = attrs.field(default="", metadata={"help": "evaluator metric to optimise and select by (default: its first), "
                                                             "e.g. cifar10_valid_12ep as in NAS-Bench-201"})
    direction: str = attrs.field(default="", validator=v.in_(("", "maximize", "minimize")),
                                 metadata={"help": "maximize or minimize `metric` (default: the evaluator's direction "
                                                   "for its first metric, maximize for the others; a cost such as "
                                                   "latency or params must say it)"})
    report: str = attrs.field(default="", metadata={"help": "metric reported for the chosen cell, e.g. cifar10 (test)"})
    cost: str = attrs.field(default="", metadata={"help": "metric in seconds per query (e.g. cifar10_time_12ep): "
                                                          "`seconds` is then a simulated budget"})
    parallel: int = attrs.field(default=1, validator=v.gt(0), metadata={"help": "evaluations at once; > 1 uses Ray (as does executor.name = \"ray\" at 1)"})


@attrs.frozen(kw_only=True)
class BlackboxRecipe:
    """The top level of an ``automl search`` recipe: its own keys, checked (a misspelt ``spae``
    or ``sed`` was ignored), and its tables, each checked by its own class later."""

    name: str = ""
    description: str = ""
    seed: int = attrs.field(default=0, validator=[v.ge(0), v.le(MAX_SEED)],
                            metadata={"help": f"the search's seed, 0 .. {MAX_SEED}"})
    space: Any = None
    evaluator: Any = None
    data: Any = None
    blackbox: Any = None
    run: Any = None
    executor: Any = None


@attrs.frozen(kw_only=True)
class BlackboxRunConfig:
    """The ``[run]`` table of ``automl search``: the keys a black-box search reads."""

    root: str = attrs.field(default="runs", metadata={"help": "parent directory of run directories"})
    device: str = attrs.field(default="auto", validator=device_option,
                              metadata={"help": "where the evaluator trains or scores (auto: CUDA when a GPU is "
                                                "visible; on Ray, the GPU executor.gpus reserves)"})


#: Words of a metric's name that make it look like a cost: a study or search refuses to maximise
#: it by default.
COST_WORDS = ("latency", "params", "flops", "time", "memory", "energy", "loss", "error")


def looks_like_a_cost(metric: str) -> bool:
    """Whether ``metric`` (a name or dotted path) names a cost (:data:`COST_WORDS`)."""
    return any(word in metric.lower() for word in COST_WORDS)


def load_study_config(raw: dict | None, *, source: str, recipe_name: str) -> StudyConfig:
    from automl_nas.recipe.converter import structure

    if not raw:
        raise RecipeError(f"{source}: no [study] table", hint="add [study] with `metric` and [study.params] (README.md, \"Studies\"; recipes/studies/*.toml are "
                                "examples), or run a study recipe")
    if isinstance(raw.get("params"), dict):
        raw = {**raw, "params": _dotted_params(raw["params"])}
    cfg = structure(raw, StudyConfig, source=source, prefix="study")
    if cfg.metrics is not None:
        _check_objectives(raw, cfg, source=source)
    if not cfg.metrics and not cfg.metric:
        raise RecipeError(f"{source}: study.metric: required (a dotted path into result.json such as metrics.cifar10)")
    _check_pruner_options(cfg, source=source)
    if not cfg.params:
        raise RecipeError(f"{source}: study.params: no parameters to tune",
                          hint='add e.g. [study.params] "search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-2, log = true }')
    return attrs.evolve(cfg, name=cfg.name or default_study_name(recipe_name))


#: The pruner options each pruner reads; the others ignore them (Optuna's defaults size their rungs).
PRUNER_OPTIONS = {"prune_percentile": ("percentile",), "prune_startup_trials": ("median", "percentile"),
                  "prune_warmup_epochs": ("median", "percentile")}


def _check_pruner_options(cfg: StudyConfig, *, source: str) -> None:
    """An option set away from its default for a pruner that does not read it (warm-up epochs
    "never pruned" under successive_halving were pruned); no pruner reads any with ``none``."""
    if cfg.pruner == "none":
        return
    for key, readers in PRUNER_OPTIONS.items():
        default = attrs.fields_dict(StudyConfig)[key].default
        if cfg.pruner not in readers and getattr(cfg, key) != default:
            raise RecipeError(f"{source}: study.{key}: {getattr(cfg, key)!r} is set, and the {cfg.pruner} pruner does not use it "
                              f"(only the {' and '.join(readers)} pruner{'s read' if len(readers) > 1 else ' reads'} it)",
                              hint=f"set study.pruner to {readers[0]}, or study.{key} back to its default ({default!r})")


def _dotted_params(params: dict, prefix: str = "") -> dict:
    """``[study.params]`` with nested tables as dotted keys: an unquoted ``study.params.search.x.lr``
    (``--set``, or a ``[study.params.search.x]`` table) means the quoted ``"search.x.lr"``. A
    table whose values are all tables is a path; a parameter's range always has a plain value."""
    out: dict = {}
    for key, value in params.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            out.update(_dotted_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_directions(raw: dict, cfg: StudyConfig, *, source: str) -> None:
    """A metric that looks like a cost (:func:`looks_like_a_cost`) with no direction given is
    refused: the default is maximize, and the study would keep its worst trials."""
    key = "directions" if cfg.metrics else "direction"
    cost = next((m for m, _ in cfg.objectives if looks_like_a_cost(m)), None) if key not in raw else None
    if cost is not None:
        raise RecipeError(f"{source}: study.{'metrics' if cfg.metrics else 'metric'}: {cost!r} looks like a cost, and a "
                          f"study maximises unless told", hint=f"set study.{key} (\"minimize\", or \"maximize\" if higher "
                                                                f"really is better{', one per metric' if cfg.metrics else ''})")


def _check_objectives(raw: dict, cfg: StudyConfig, *, source: str) -> None:
    """A multi-objective study: what ``metrics`` makes meaningless is refused, not ignored."""
    if not cfg.metrics:
        raise RecipeError(f"{source}: study.metrics: empty", hint="name one dotted path per objective, or use study.metric")
    twice = sorted({m for m in cfg.metrics if cfg.metrics.count(m) > 1})
    if twice:
        raise RecipeError(f"{source}: study.metrics: {', '.join(map(repr, twice))} listed twice",
                          hint="name each objective once")
    if "metric" in raw and cfg.metric not in cfg.metrics:  # one of them: a single-metric recipe made multi by --set
        raise RecipeError(f"{source}: study.metric: {cfg.metric!r} is ignored with study.metrics (the study optimises "
                          f"those)", hint="remove it, or add it to study.metrics")
    if "direction" in raw:
        raise RecipeError(f"{source}: study.direction: ignored with study.metrics (each objective has its own)",
                          hint=f"remove it and give study.directions, one per metric, e.g. "
                               f"{['maximize'] * len(cfg.metrics)}")
    if "pruner" in raw and cfg.pruner != "none" and len(cfg.metrics) > 1:
        raise RecipeError(f"{source}: study.pruner = {cfg.pruner!r}: Optuna prunes single-objective studies only, so it "
                          f"would never act on these {len(cfg.metrics)} objectives", hint='set study.pruner = "none"')


def idle_pruner(cfg: StudyConfig, epochs: int) -> str:
    """Why the median or percentile pruner could never prune in this study (its warm-up covers
    every epoch, or it waits for more finished trials than the study runs); empty otherwise.
    A warning, not a refusal: a profile's short search may be meant so."""
    if cfg.pruner not in ("median", "percentile"):
        return ""
    if cfg.prune_warmup_epochs >= epochs - 1:  # the last epoch's report ends the trial anyway
        return (f"study.prune_warmup_epochs = {cfg.prune_warmup_epochs} covers every epoch that could be pruned of "
                f"this {epochs}-epoch search: the {cfg.pruner} pruner never acts")
    if cfg.prune_startup_trials >= cfg.trials:
        return (f"study.prune_startup_trials = {cfg.prune_startup_trials} is not below study.trials = {cfg.trials}: "
                f"the {cfg.pruner} pruner waits for more finished trials than the study runs, and never acts")
    return ""


def default_study_name(recipe_name: str) -> str:
    """``<recipe>-study``; a recipe already named as a study keeps its name (not ``x-study-study``)."""
    return recipe_name if recipe_name.endswith("study") else f"{recipe_name}-study"


#: Where result.json (:class:`~automl_nas.records.schema.RunResult`) keeps numbers: tables that a
#: dotted path goes into, and plain values.
RESULT_TABLES = ("metrics", "costs", "last_epoch", "expected")
RESULT_VALUES = ("epochs", "epochs_done", "search_time_s", "wall_time_s", "seed")
#: Tables of result.json whose keys name numbers directly (last_epoch nests: eval.NAME, ...).
FLAT_TABLES = ("metrics", "costs", "expected")


def check_result_paths(cfg: StudyConfig, *, has_evaluator: bool, source: str) -> None:
    """``study.metric(s)`` against result.json's layout, before any trial: a path that cannot
    name a number there would otherwise be found only when the first trials have finished."""
    from automl_nas.errors import did_you_mean

    key = "study.metrics" if cfg.metrics else "study.metric"
    for path in (cfg.metrics or [cfg.metric]):
        head, _, rest = path.partition(".")
        if head in RESULT_VALUES and not rest:
            continue
        if head in FLAT_TABLES and "." in rest:
            problem = (f"{head!r} holds numbers by name ({head}.NAME), so {path!r} goes below a number; "
                       f"did you mean {head + '.' + rest.partition('.')[0]!r}?")
        elif head in RESULT_TABLES and rest:
            if head == "metrics" and not has_evaluator:
                raise RecipeError(f"{source}: {key}: {path!r}: the recipe has no [evaluator], so result.json has no "
                                  f"metrics", hint="add an [evaluator] table, or name another number of result.json, "
                                                   "e.g. last_epoch.valid_acc")
            continue
        elif head in RESULT_TABLES:
            problem = f"names the table {head!r}, not a number in it; e.g. {head}.NAME"
        elif head in RESULT_VALUES:
            problem = f"{head!r} is a number, with nothing below it; did you mean {head!r}?"
        elif not path:
            problem = "empty"
        elif not rest:  # a bare name: most likely one of the evaluator's metrics
            problem = f"not a path into result.json; did you mean 'metrics.{path}'?"
        else:
            problem = "not a path into result.json" + did_you_mean(head, RESULT_TABLES + RESULT_VALUES)
        raise RecipeError(f"{source}: {key} = {path!r}: {problem}",
                          hint=f"a dotted path into each trial's result.json: a table ({', '.join(RESULT_TABLES)}) "
                               f"and a key in it, such as metrics.cifar10, or one of {', '.join(RESULT_VALUES)}")


def load_blackbox_config(raw: dict | None, *, source: str) -> BlackboxConfig:
    from automl_nas.recipe.converter import structure

    if not raw:
        raise RecipeError(f"{source}: no [blackbox] table", hint='add [blackbox] proposer = "rea", queries = 100, metric = "cifar10"')
    cfg = structure(raw, BlackboxConfig, source=source, prefix="blackbox")
    if not cfg.queries and not cfg.seconds:
        raise RecipeError(f"{source}: blackbox: no budget (queries = 0 and seconds = 0 would search without end)",
                          hint="set blackbox.queries (evaluations) and/or blackbox.seconds (wall clock, or simulated "
                               "with blackbox.cost)")
    return cfg


def load_blackbox_run(raw: dict | None, *, source: str) -> BlackboxRunConfig:
    from automl_nas.recipe.converter import structure

    return structure(raw or {}, BlackboxRunConfig, source=source, prefix="run")
