"""``automl study``: an Optuna study whose trials are search runs.

The driver owns the study (style guide G19): it asks for parameters, turns them
into ``--set`` overrides, runs each trial as a :class:`TrialSpec` (in-process,
or as Ray tasks when ``parallelism > 1`` or the executor is ``ray``) and tells
the value read from the trial's ``result.json``. Storage is persistent
(SQLite in the study directory by default) and opened with
``load_if_exists=True``: running the same command again resumes the study,
counts its COMPLETE and PRUNED trials towards ``trials`` and marks trials left
RUNNING by a killed driver as FAIL (so one driver per study at a time).
A trial that fails is retried with the same parameters up to ``[executor]
retries`` times (enqueued as a new Optuna trial, so the study's history keeps
the failed attempt with its error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import attrs

from automl_nas.errors import RecipeError, RunError, one_line
from automl_nas.execution.trial import TrialSpec, run_trial
from automl_nas.study.config import StudyConfig, load_study_config
from automl_nas.study.pruning import PruneSpec, PruningReporter, TrialPruned
from automl_nas.study.space import suggest, to_override

__all__ = ["run_study", "run_study_trial", "open_study", "metric_value"]


def run_study_trial(spec: TrialSpec, prune: PruneSpec | None = None, placement: Any = None) -> dict[str, Any]:
    """Worker side: one attempt of ``spec``; never raises for a failed or pruned run."""
    from automl_nas.execution.trial import _error_text

    extra = [(PruningReporter.from_spec(prune), "study-pruner")] if prune else []
    try:
        result = run_trial(spec, extra_plugins=extra, placement=placement)
        # How many epochs reported the pruner's key: 0 means it never appeared (the driver says so).
        return {"status": "finished", "result": result, "reported": len(extra[0][0].reported) if extra else None}
    except TrialPruned as exc:
        return {"status": "pruned", "result": _read_result(spec), "error": exc.message}
    except Exception as exc:  # noqa: BLE001 - a failed trial is recorded, the study goes on
        return {"status": "failed", "result": _read_result(spec), "error": _error_text(exc)}


def _read_result(spec: TrialSpec) -> dict:
    from automl_nas.records.rundir import RunDir

    from automl_nas.errors import RunError

    try:
        result = RunDir(spec.run_dir).read_result()
    except (OSError, RunError):
        return {}
    return result.to_json() if result is not None else {}


def metric_value(result: dict, dotted: str) -> float | None:
    """``result["metrics"]["cifar10"]`` for ``metrics.cifar10``; ``None`` when absent."""
    node: Any = result
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _sampler(cfg: StudyConfig, seed: int):
    import optuna

    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def _pruner(cfg: StudyConfig):
    import optuna

    if cfg.pruner == "none" or len(cfg.objectives) > 1:  # Optuna cannot prune multi-objective trials
        return optuna.pruners.NopPruner()
    if cfg.pruner == "percentile":
        return optuna.pruners.PercentilePruner(cfg.prune_percentile, n_startup_trials=cfg.prune_startup_trials,
                                               n_warmup_steps=cfg.prune_warmup_epochs)
    if cfg.pruner == "successive_halving":  # rungs from epoch 1 on, every 3rd survives (Optuna's defaults)
        return optuna.pruners.SuccessiveHalvingPruner()
    if cfg.pruner == "hyperband":  # brackets sized from the epochs trials report
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.MedianPruner(n_startup_trials=cfg.prune_startup_trials, n_warmup_steps=cfg.prune_warmup_epochs)


_PARAMS_ATTR = "automl_nas_params"


def _param_table(cfg: StudyConfig) -> dict[str, dict[str, Any]]:
    return {key: attrs.asdict(spec) for key, spec in sorted(cfg.params.items())}


def _create(cfg: StudyConfig, storage: str, directions: list[str]):
    """``optuna.create_study`` with storage and Optuna errors turned into one paragraph naming the URL."""
    import optuna

    from automl_nas.study.storage import open_storage

    try:
        return optuna.create_study(study_name=cfg.name, storage=open_storage(storage), load_if_exists=True,
                                   directions=directions)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, driver and Optuna errors all mean "cannot open it"
        raise RunError(f"study storage {storage!r} cannot be opened: {one_line(exc)}",
                       hint="use sqlite:///PATH or journal:PATH in an existing, writable directory, or a database URL "
                            "whose driver is installed (postgresql://..., mysql://...); leave --storage out for the "
                            "default") from None


def open_study(cfg: StudyConfig, storage: str, seed: int, retries: int = 0):
    """Create or load the study. A resumed study must have the same directions and parameter
    space (a changed range would mix two searches in one study); trials left RUNNING by a
    dead driver (see :mod:`automl_nas.study.storage`) become FAIL and are re-run with their
    parameters while ``retries`` allow; another live driver's trials are left running."""
    import warnings

    from automl_nas.study.storage import is_dead, open_storage

    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [d for _, d in cfg.objectives]
    probe = _create(cfg, storage, directions)
    if [d.name.lower() for d in probe.directions] != directions:
        raise RecipeError(f"study {cfg.name!r} in {storage} has directions {[d.name.lower() for d in probe.directions]}, "
                          f"the recipe asks for {directions}", hint="use another study.name or storage")
    _same_params(probe, cfg, storage)
    if probe.metric_names is None:  # the objectives by name in Optuna's tables, plots and optuna-dashboard
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since Optuna 3.2
            probe.set_metric_names([metric for metric, _ in cfg.objectives])
    for stale in probe.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_dead(stale.user_attrs):
            continue
        probe.tell(stale.number, state=TrialState.FAIL)
        attempt = int(stale.user_attrs.get("attempt", 1))
        if attempt <= retries and stale.params:
            probe.enqueue_trial(dict(stale.params), user_attrs={"attempt": attempt + 1, "retry_of": stale.number},
                                skip_if_exists=False)
    # Re-seeding with the number of earlier trials keeps a resumed random sampler from repeating them.
    return optuna.load_study(study_name=cfg.name, storage=open_storage(storage), sampler=_sampler(cfg, seed + len(probe.trials)),
                             pruner=_pruner(cfg))


def _same_params(study, cfg: StudyConfig, storage: str) -> None:
    wanted = _param_table(cfg)
    stored = study.user_attrs.get(_PARAMS_ATTR)
    if stored is None:
        if not study.trials:
            study.set_user_attr(_PARAMS_ATTR, wanted)
        return  # a study from automl-nas < 0.2 recorded no parameter space
    if stored != wanted:
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        lines = "; ".join(f"{k}: was {stored.get(k, 'absent')}, now {wanted.get(k, 'absent')}" for k in changed)
        raise RecipeError(f"study {cfg.name!r} in {storage} was run with another parameter space ({lines})",
                          hint="use a new study.name (or --storage) for the changed space, or restore the old [study.params]")


def _counted(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


@attrs.define
class _Driver:
    cfg: StudyConfig
    study: Any
    storage: str
    study_dir: Path
    recipe_path: str
    profile: str | None
    overrides: list[str]
    seed: int
    pm: Any
    retries: int = 0
    failures: int = 0
    heartbeat: Any = None

    def ask(self) -> tuple[Any, TrialSpec, PruneSpec | None]:
        trial = self.study.ask()
        if self.heartbeat is not None:
            self.heartbeat.add(trial)  # marks the trial as this driver's, alive
        params = {key: suggest(trial, key, spec) for key, spec in self.cfg.params.items()}
        run_dir = self.study_dir / f"trial-{trial.number:04d}"
        spec = TrialSpec(recipe_path=self.recipe_path, profile=self.profile, seed=self.seed, run_dir=str(run_dir),
                         overrides=[*self.overrides, *(to_override(k, v) for k, v in params.items())],
                         name=f"trial-{trial.number}")
        trial.set_user_attr("run_dir", str(run_dir))
        prune = None
        if self.cfg.pruner != "none" and len(self.cfg.objectives) == 1:
            prune = PruneSpec(storage=self.storage, study_name=self.cfg.name, trial_id=trial._trial_id,
                              key=self.cfg.intermediate)
        return trial, spec, prune

    def tell(self, trial: Any, spec: TrialSpec, out: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        if self.heartbeat is not None:
            self.heartbeat.done(trial)
        result, status = out.get("result") or {}, out["status"]
        params, attempt = dict(trial.params), int(trial.user_attrs.get("attempt", 1))
        if out.get("error"):
            trial.set_user_attr("error", out["error"])
        record = {**result, "status": status, "run_dir": spec.run_dir, "trial": spec.name, **({"error": out["error"]} if out.get("error") else {})}
        if status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif status != "finished":
            self.failures += 1
            self.study.tell(trial, state=TrialState.FAIL)
            if attempt <= self.retries:
                self.study.enqueue_trial(params, user_attrs={"attempt": attempt + 1, "retry_of": trial.number},
                                         skip_if_exists=False)
        else:
            if out.get("reported") == 0:
                self.study.tell(trial, state=TrialState.FAIL)
                raise RecipeError(f"study.intermediate: {self.cfg.intermediate!r} appeared in no epoch record of "
                                  f"{spec.run_dir} (epoch keys: {', '.join(_epoch_keys(spec.run_dir))}), so the "
                                  f"{self.cfg.pruner} pruner could never act",
                                  hint="name one of the keys listed (dotted, e.g. eval.cifar10, which needs "
                                       "search.eval_every > 0), or set study.pruner = \"none\"")
            values = [metric_value(result, m) for m, _ in self.cfg.objectives]
            missing = [m for (m, _), val in zip(self.cfg.objectives, values) if val is None]
            if missing:
                self.study.tell(trial, state=TrialState.FAIL)
                raise RecipeError(f"study.metric: {missing} not found in {spec.run_dir}/result.json "
                                  f"(numeric keys: {', '.join(_numeric_keys(result))})", hint="name a dotted path listed above")
            self.study.tell(trial, values if len(values) > 1 else values[0])
        self.pm.hook.automl_trial_end(trial=spec, result=record)
        if self.failures >= self.cfg.trials * (self.retries + 1):
            raise RunError(f"study {self.cfg.name!r}: {self.failures} trials failed; last error: {out.get('error')}",
                           hint=f"inspect {spec.run_dir} and the recipe; the study resumes from its storage when rerun")


def _epoch_keys(run_dir: str) -> list[str]:
    from automl_nas.execution.aggregate import flatten_numeric
    from automl_nas.records.rundir import read_jsonl

    return sorted({k for record in read_jsonl(Path(run_dir) / "metrics.jsonl") for k in flatten_numeric(record)})


def _numeric_keys(result: dict) -> list[str]:
    from automl_nas.execution.aggregate import flatten_numeric

    return sorted(flatten_numeric(result))


def run_study(path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = (), trials: int | None = None,
              storage: str | None = None, address: str | None = None, quiet: bool = False, session: Any = None) -> dict:
    """Run (or resume) the recipe's ``[study]`` until ``trials`` trials are COMPLETE or PRUNED.

    Returns ``{"status", "study", "storage", "study_dir", "trials", "best", "files"}``.

    Example:
        >>> run_study("recipes/snas.toml", profile="quick", trials=10)  # doctest: +SKIP
    """
    from automl_nas.execution.trials import trial_device, trial_threads
    from automl_nas.preflight import preflight
    from automl_nas.recipe import load_recipe
    from automl_nas.records.lock import directory_lock
    from automl_nas.records.rundir import safe_name
    from automl_nas.session import open_session
    from automl_nas.study.report import write_report
    from automl_nas.study.storage import Heartbeat

    overrides = list(overrides)
    recipe = load_recipe(path, profile=profile, overrides=overrides)
    session = session or open_session()
    preflight(session.plan(path, profile=profile, overrides=overrides))  # refused before the first trial (issue 13)
    cfg = load_study_config(recipe.study, source=str(path), recipe_name=recipe.name)
    cfg = attrs.evolve(cfg, trials=trials or cfg.trials, storage=storage or cfg.storage)
    check_params(session, path, profile, overrides, cfg)  # a mistyped key fails here, before any trial
    on_ray = cfg.parallelism > 1 or recipe.executor.name == "ray" or bool(address)
    overrides += trial_threads(recipe) + trial_device(recipe, "ray" if on_ray else "local")
    study_dir = (Path(cfg.root) if cfg.root else Path(recipe.run.root) / "studies").resolve() / safe_name(cfg.name)
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{study_dir}: cannot create the study directory ({exc.strerror or exc})",
                       hint="choose a writable study.root or run.root") from None
    url = cfg.storage or f"sqlite:///{study_dir / 'study.db'}"
    seed = recipe.seed if cfg.seed is None else cfg.seed
    with directory_lock(study_dir, what="study driver"):
        study = open_study(cfg, url, seed, retries=recipe.executor.retries)
        driver = _Driver(cfg=cfg, study=study, storage=url, study_dir=study_dir, recipe_path=str(Path(path).resolve()),
                         profile=profile, overrides=overrides, seed=recipe.seed, pm=session.pm,
                         retries=recipe.executor.retries, heartbeat=Heartbeat())
        with driver.heartbeat:
            if on_ray:
                _loop_ray(driver, recipe.executor, address or recipe.executor.address or None, quiet)
            else:
                _loop_local(driver)
        files = write_report(study, study_dir, cfg)
    return {"status": "finished", "study": cfg.name, "storage": url, "study_dir": str(study_dir),
            "trials": _counted(study), **files}


def check_params(session: Any, path: str | Path, profile: str | None, overrides: list[str], cfg: StudyConfig) -> None:
    """Plan the recipe with each ``[study.params]`` key at its range's ends (or every choice),
    so a mistyped key or an out-of-range bound is refused before the first trial."""
    for key, spec in cfg.params.items():
        values = list(spec.choices or []) if spec.type == "categorical" else [spec.low, spec.high]
        for value in values:
            value = int(value) if spec.type == "int" else (float(value) if spec.type == "float" else value)
            try:
                session.plan(path, profile=profile, overrides=[*overrides, to_override(key, value)])
            except RecipeError as exc:
                raise RecipeError(f"{path}: study.params.{key} = {value!r} does not give a valid recipe: {exc.message}",
                                  hint="fix the key (a dotted recipe key such as search.sampler.temperature.start) "
                                       "or its range") from None


def _loop_local(driver: _Driver) -> None:
    while _counted(driver.study) < driver.cfg.trials:
        trial, spec, prune = driver.ask()
        driver.tell(trial, spec, run_study_trial(spec, prune))


def _ray_study_trial(spec: TrialSpec, prune: PruneSpec | None = None) -> dict[str, Any]:
    # A Ray task: env.json records the node and the resources Ray reserved.
    from automl_nas.execution.placement import ray_placement

    return run_study_trial(spec, prune, placement=ray_placement())


def _loop_ray(driver: _Driver, executor, address: str | None, quiet: bool) -> None:
    from automl_nas.execution.ray import connect, use_token_auth

    use_token_auth()  # before `import ray` (see there)
    import ray

    started = connect(address, quiet=quiet)
    try:
        # Ray tasks retry lost workers; a trial that raises is told as FAIL instead.
        remote = ray.remote(_ray_study_trial).options(num_cpus=executor.cpus, num_gpus=executor.gpus,
                                                     max_retries=executor.retries)
        pending: dict[Any, tuple[Any, TrialSpec]] = {}
        while True:
            while len(pending) < driver.cfg.parallelism and _counted(driver.study) + len(pending) < driver.cfg.trials:
                trial, spec, prune = driver.ask()
                pending[remote.remote(spec, prune)] = (trial, spec)
            if not pending:
                break
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            trial, spec = pending.pop(ref)
            driver.tell(trial, spec, ray.get(ref))
    finally:
        if started:
            ray.shutdown()
