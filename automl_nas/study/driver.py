"""``automl study``: an Optuna study whose trials are search runs.

The driver owns the study (style guide G19): it asks for parameters, turns them
into ``--set`` overrides, runs each trial as a :class:`TrialSpec` through the one
trial executor (:mod:`automl_nas.execution.executor`: in-process, or as Ray tasks
when ``parallelism > 1`` or the executor is ``ray``, on this machine or a cluster)
and tells the value read from the trial's ``result.json``. Only the driver opens
the storage: every epoch of every running trial reaches it through the executor's
epoch stream, where the pruner is asked (public Optuna API on the trials it asked
for). Storage is persistent (SQLite in the study directory by default, any RDB URL
or ``journal:PATH``) and opened with ``load_if_exists=True``: running the same
command again resumes the study, counts its COMPLETE and PRUNED trials towards
``trials``, and fails and re-queues the trials of dead drivers only (heartbeats,
:mod:`automl_nas.study.storage`), so several drivers can share a study.
A failing attempt is retried up to ``[executor] retries`` times within the same
Optuna trial, resuming from the trial's own checkpoint (the executor's one retry
policy; the attempt log next to the trial's directory keeps every attempt).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NoReturn

import attrs

from automl_nas.errors import AutomlError, Interrupted, RecipeError, RunError, did_you_mean, one_line
from automl_nas.execution.epochs import EpochEvent, epoch_line
from automl_nas.execution.trial import TrialResult, TrialSpec
from automl_nas.execution.trials import trial_line
from automl_nas.study.config import StudyConfig, check_directions, check_result_paths, load_study_config
from automl_nas.study.protocol import changes, check_same_protocol, protocol_of
from automl_nas.study.pruning import PruningReporter, dotted_value
from automl_nas.study.space import suggest, to_override
from automl_nas.study.storage import CONTINUES_ATTR

if TYPE_CHECKING:
    from automl_nas.recipe.resolve import Plan

__all__ = ["run_study", "open_study", "metric_value"]


def metric_value(result: dict, dotted: str) -> float | None:
    """``result["metrics"]["cifar10"]`` for ``metrics.cifar10``; ``None`` when absent (the
    pruner's reading of an epoch record, applied to result.json); NaN when ``null`` (not finite:
    Optuna fails such a trial, as it did when result.json said NaN)."""
    return dotted_value(result, dotted, null=math.nan)


def _sampler(cfg: StudyConfig, seed: int):
    import optuna

    if cfg.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def _ask_seed(seed: int, fresh: int) -> int:
    """The sampler's seed for the study's ``fresh``-th new parameter set. Optuna keeps a
    sampler's random state in memory only; a sampler seeded per new set from the study's seed
    and the sets asked before (its history is in the storage) draws, in a resumed study, what
    the uninterrupted study would have drawn."""
    import numpy as np

    return int(np.random.SeedSequence([seed, fresh]).generate_state(1)[0])


def _fresh_asked(study, before: int | None = None) -> int:
    """Trials asked with new parameters (those not queued again after their driver died); with
    ``before``, only those numbered lower: the count a trial of that number was asked after."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if _RETRY_ATTR not in t.user_attrs and (before is None or t.number < before))


def _prunes(cfg: StudyConfig) -> bool:
    """Whether trials of this study can be pruned: Optuna prunes single-objective studies only."""
    return cfg.pruner != "none" and len(cfg.objectives) == 1


def _pruner(cfg: StudyConfig):
    import optuna

    if not _prunes(cfg):
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

    for attempt in range(_CREATE_TRIES):
        try:
            return optuna.create_study(study_name=cfg.name, storage=open_storage(storage), load_if_exists=True,
                                       directions=directions)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy, driver and Optuna errors all mean "cannot open it"
            # Drivers started together on a fresh database race to create its schema or the study
            # (one fails with UNIQUE constraint failed on alembic_version); the loser finds them made.
            if attempt + 1 < _CREATE_TRIES and any(k in str(exc) for k in _RACED):
                time.sleep(0.2 * (attempt + 1))
                continue
            _refuse_storage(storage, exc)


#: How often a storage is opened when another driver was creating it at the same moment, and the
#: words of the errors that say so (SQLite, PostgreSQL, MySQL).
_CREATE_TRIES = 5
_RACED = ("UNIQUE constraint failed", "already exists", "database is locked", "Duplicate entry",
          "duplicate key value")


def _refuse_storage(storage: str, exc: Exception) -> NoReturn:
    # Optuna wraps the database's own words ("attempt to write a readonly database") in a generic
    # "exception is raised during the commit": the cause says what is wrong
    text = one_line(exc) + (f" ({one_line(exc.__cause__)})" if exc.__cause__ is not None else "")
    damaged = any(k in text for k in ("malformed", "not a database", "file is encrypted", "JournalLog"))
    raced = any(k in text for k in _RACED)
    read_only = any(k in text.lower() for k in ("readonly database", "read-only", "permission denied"))
    raise RunError(f"study storage {storage!r} cannot be opened: {text}",
                   hint="the storage file is damaged: restore it from a copy, or start the study afresh under "
                        "another study.name (its finished trials' run directories stay readable with `automl show`)"
                   if damaged else
                        "the storage file (or its folder) is read-only for this user: make it writable, or copy it "
                        "somewhere writable and pass --storage with the copy"
                   if read_only else
                        "another driver was creating or writing it at the same moment: run the same command again"
                   if raced else
                        "use sqlite:///PATH or journal:PATH in an existing, writable directory, or a database URL "
                        "whose driver is installed (postgresql://..., mysql://...); leave --storage out for the "
                        "default") from None


def open_study(cfg: StudyConfig, storage: str, seed: int, protocol: dict[str, str] | None = None):
    """Create or load the study. A resumed study must have the same directions, parameter
    space (a changed range would mix two searches in one study) and ``protocol``
    (:func:`~automl_nas.study.protocol.protocol_of`: the rest of the recipe); trials left RUNNING by a
    dead driver (see :mod:`automl_nas.study.storage`) are re-queued (:func:`_requeue`); another live
    driver's trials are left running."""
    import warnings

    from automl_nas.study.storage import dead_running_trials, open_storage

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [d for _, d in cfg.objectives]
    probe = _create(cfg, storage, directions)
    if [d.name.lower() for d in probe.directions] != directions:
        raise RecipeError(f"study {cfg.name!r} in {storage} has directions {[d.name.lower() for d in probe.directions]}, "
                          f"the recipe asks for {directions}", hint="use another study.name or storage")
    _same_params(probe, cfg, storage)
    _same_intermediate(probe, cfg, storage)
    if protocol is not None:
        check_same_protocol(probe, protocol, name=cfg.name, storage=storage)
    metrics = [metric for metric, _ in cfg.objectives]
    if probe.metric_names is not None and list(probe.metric_names) != metrics:
        # the same directions with another metric: one objective column of two different quantities
        raise RecipeError(f"study {cfg.name!r} in {storage} optimises {list(probe.metric_names)}, the recipe asks for "
                          f"{metrics}", hint="set study.metric(s) back, or use another study.name or storage for the new "
                                             "objective")
    if probe.metric_names is None:  # the objectives by name in Optuna's tables, plots and optuna-dashboard
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # stable since Optuna 3.2
            probe.set_metric_names(metrics)
    for stale in dead_running_trials(probe):
        _requeue(probe, stale)
    # The driver seeds the sampler again before each new set (_Driver.ask).
    return optuna.load_study(study_name=cfg.name, storage=open_storage(storage), sampler=_sampler(cfg, seed),
                             pruner=_pruner(cfg))


#: A re-queued trial's user attribute: the number of the trial it takes over.
_RETRY_ATTR = "retry_of"


#: What a trial's error says when the machine, not the trial, failed: its records could not be written.
_MACHINE_FAULTS = ("No space left on device", "Read-only file system", "Disk quota exceeded")


def _machine_fault(error: str | None) -> bool:
    return bool(error) and any(k in error for k in _MACHINE_FAULTS)


def _requeue(study, trial) -> None:
    """Fail ``trial`` (an ``optuna.Trial`` or ``FrozenTrial``), whose driver stopped or died, and
    queue its parameters again. The trial itself did not fail, so this spends no ``[executor]
    retries``: the driver that asks for the parameters next continues the trial's run directory
    from its checkpoint (:meth:`_Driver.ask`), and no finished epoch is lost."""
    from optuna.trial import TrialState

    params, run_dir = dict(trial.params), trial.user_attrs.get("run_dir")
    study.tell(trial.number, state=TrialState.FAIL)
    if params:  # none: the driver died before suggesting them, and there is nothing to continue
        queued = {"attempt": int(trial.user_attrs.get("attempt", 1)) + 1, _RETRY_ATTR: trial.number}
        if run_dir:
            queued[CONTINUES_ATTR] = Path(run_dir).name
        study.enqueue_trial(params, user_attrs=queued, skip_if_exists=False)


def _same_params(study, cfg: StudyConfig, storage: str) -> None:
    wanted = _param_table(cfg)
    stored = study.user_attrs.get(_PARAMS_ATTR)
    if not study.trials:  # no trial ran under the recorded space (a start refused after recording it)
        if stored != wanted:
            study.set_user_attr(_PARAMS_ATTR, wanted)
        return
    if stored is None:
        return  # a study from automl-nas < 0.2 recorded no parameter space
    if stored != wanted:
        raise RecipeError(f"study {cfg.name!r} in {storage} was run with another parameter space "
                          f"({'; '.join(changes(stored, wanted))})",
                          hint="use a new study.name (or --storage) for the changed space, or restore the old [study.params]")


#: The study's user attribute naming the per-epoch key its trials report to the pruner.
_INTERMEDIATE_ATTR = "automl_nas_intermediate"


def _same_intermediate(study, cfg: StudyConfig, storage: str) -> None:
    """The pruner compares a trial's per-epoch values with the other trials' at the same epoch: a
    study resumed with another ``study.intermediate`` pruned a training loss against accuracies."""
    if not _prunes(cfg):
        return
    stored = study.user_attrs.get(_INTERMEDIATE_ATTR)
    if stored is not None and stored != cfg.intermediate and any(
            t.intermediate_values for t in study.get_trials(deepcopy=False)):  # read only when it may matter
        raise RecipeError(f"study {cfg.name!r} in {storage} prunes on {stored!r}, the recipe on {cfg.intermediate!r}: "
                          f"the new trials' values would be compared with the old ones'",
                          hint=f"set study.intermediate back to {stored!r}, or use another study.name or storage")
    if stored != cfg.intermediate:
        study.set_user_attr(_INTERMEDIATE_ATTR, cfg.intermediate)


def _counted(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


@attrs.define
class _Driver:
    cfg: StudyConfig
    study: Any
    study_dir: Path
    recipe_path: str
    profile: str | None
    overrides: list[str]
    seed: int
    pm: Any
    sampler_seed: int = 0
    quiet: bool = True
    ranks: int = 1
    failures: int = 0
    heartbeat: Any = None
    asked: dict[str, tuple[Any, PruningReporter | None]] = attrs.field(factory=dict)

    @property
    def prunes(self) -> bool:
        return _prunes(self.cfg)

    def ask(self) -> TrialSpec:
        # A queued trial takes its stored parameters; a new one draws them from its own seed.
        fresh = _fresh_asked(self.study)
        self.study.sampler = _sampler(self.cfg, _ask_seed(self.sampler_seed, fresh))
        trial = self.study.ask()
        # Drivers sharing the storage counted the same sets at the same moment and drew the same
        # parameters; the trial's own number tells them apart (and equals the count above when it
        # ran alone). Optuna samples at the first suggest, so the sampler can still be seeded here.
        mine = _fresh_asked(self.study, before=trial.number)
        if mine != fresh:
            self.study.sampler = _sampler(self.cfg, _ask_seed(self.sampler_seed, mine))
        if self.heartbeat is not None:
            self.heartbeat.add(trial)  # marks the trial as this driver's, alive
        params = {key: suggest(trial, key, spec) for key, spec in self.cfg.params.items()}
        run_dir = self.study_dir / f"trial-{trial.number:04d}"
        continued = trial.user_attrs.get(CONTINUES_ATTR)
        if continued and (self.study_dir / continued).is_dir():  # another root's (driver's) directory is not here
            run_dir = self.study_dir / continued
        spec = TrialSpec(recipe_path=self.recipe_path, profile=self.profile, seed=self.seed, run_dir=str(run_dir),
                         overrides=[*self.overrides, *(to_override(k, v) for k, v in params.items())],
                         name=run_dir.name, ranks=self.ranks)  # progress lines name the directory it writes to
        trial.set_user_attr("run_dir", str(run_dir))
        reporter = PruningReporter(trial, self.cfg.intermediate) if self.prunes else None
        if reporter is not None and continued and run_dir.is_dir():
            reporter.replay(run_dir)  # the epochs its checkpoint holds: the pruner sees the whole curve
        self.asked[spec.name] = (trial, reporter)
        return spec

    def on_epoch(self, event: EpochEvent) -> bool:
        """Each epoch of a running trial: a progress line, and the pruner's verdict."""
        if not self.quiet:
            print(epoch_line(event), file=sys.stderr, flush=True)
        _, reporter = self.asked.get(event.trial, (None, None))
        return reporter.observe(event.epoch, event.metrics, event.num_epochs) if reporter is not None else False

    def tell(self, outcome: TrialResult) -> None:
        from optuna.trial import TrialState

        spec = outcome.spec
        trial, reporter = self.asked.pop(spec.name)
        if self.heartbeat is not None:
            self.heartbeat.done(trial)
        outcome = self._failed_without_value(outcome, reporter)
        result, status = outcome.result or {}, outcome.status
        trial.set_user_attr("attempts", outcome.attempts)
        if outcome.error:
            trial.set_user_attr("error", outcome.error)
        if not self.quiet:
            print(trial_line(outcome), file=sys.stderr, flush=True)
        if status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        elif status != "finished" and _machine_fault(outcome.error):
            # The disk, not the parameters: asking for new sets spent them on the same fault, and the
            # trial's own set was never run again. Queued again as a stopped driver's trials are.
            _requeue(self.study, trial)
            raise RunError(f"study {self.cfg.name!r}: trial {spec.name} could not write its records: {outcome.error}",
                           hint="free space on that disk (or make it writable), then run the same `automl study` "
                                f"command again: it continues {spec.name} from its checkpoint with its parameters")
        elif status != "finished":
            self.failures += 1
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            values = [metric_value(result, m) for m, _ in self.cfg.objectives]
            missing = [m for (m, _), val in zip(self.cfg.objectives, values) if val is None]
            if missing:
                self.study.tell(trial, state=TrialState.FAIL)
                raise RecipeError(f"study.metric: {missing} not found in {spec.run_dir}/result.json "
                                  f"(numeric keys: {', '.join(_numeric_keys(result))})", hint="name a dotted path listed above")
            self.study.tell(trial, values if len(values) > 1 else values[0])
            # (a trial resumed after its last epoch reports none here: its records are what count)
            if reporter is not None and not reporter.reported and not _recorded(spec.run_dir, self.cfg.intermediate):
                raise RecipeError(f"study.intermediate: {self.cfg.intermediate!r} appeared in no epoch record of "
                                  f"{spec.run_dir} (epoch keys: {', '.join(_epoch_keys(spec.run_dir))}), so the "
                                  f"{self.cfg.pruner} pruner could never act; that trial's value is kept",
                                  hint="name one of the keys listed (dotted, e.g. eval.cifar10, which needs "
                                       "search.eval_every > 0), or set study.pruner = \"none\"")
        self.pm.hook.automl_trial_end(trial=spec, result=outcome.record())
        if self.failures >= self.cfg.trials:
            from automl_nas.execution.trial import attempt_log

            # a trial refused while being planned has no run directory: its attempt log holds the error
            where = spec.run_dir if Path(spec.run_dir).is_dir() else attempt_log(spec)
            raise RunError(f"study {self.cfg.name!r}: {self.failures} trials failed; last error: {outcome.error}",
                           hint=f"inspect {where} and the recipe; the study resumes from its storage when rerun")


    def stopped(self) -> None:
        """Ctrl-C or SIGTERM: the trials still running are re-queued (:func:`_requeue`), as the next
        driver would do for a dead one, so rerunning the study continues them."""
        for trial, _ in self.asked.values():
            if self.heartbeat is not None:
                self.heartbeat.done(trial)
            _requeue(self.study, trial)
        self.asked.clear()

    def _failed_without_value(self, outcome: TrialResult, reporter: PruningReporter | None) -> TrialResult:
        """A finished trial whose objective is NaN or infinite (``null`` in result.json) as a failed
        one, with its reason, so it takes the one failure path: Optuna would fail it quietly, and a
        study whose every trial ends so asked for trials without end. A missing key and an
        intermediate never reported stay recipe errors, which :meth:`tell` raises first."""
        if outcome.status != "finished" or (reporter is not None and not reporter.reported):
            return outcome
        values = [metric_value(outcome.result or {}, m) for m, _ in self.cfg.objectives]
        if any(v is None for v in values) or all(math.isfinite(v) for v in values):
            return outcome
        no_value = [m for (m, _), v in zip(self.cfg.objectives, values) if not math.isfinite(v)]
        return attrs.evolve(outcome, status="failed",
                            error=f"study.metric {', '.join(no_value)} has no finite value in "
                                  f"{outcome.spec.run_dir}/result.json (NaN or infinite; written there as null)")


def _recorded(run_dir: str, key: str) -> bool:
    """Whether any epoch record of ``run_dir`` holds ``key`` (dotted into nested ones)."""
    from automl_nas.records.rundir import read_jsonl
    from automl_nas.study.pruning import dotted_value

    return any(dotted_value(record, key) is not None for record in read_jsonl(Path(run_dir) / "metrics.jsonl"))


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
    from automl_nas.records.lock import directory_lock
    from automl_nas.records.rundir import safe_name, unusable_path
    from automl_nas.session import open_session
    from automl_nas.study.report import write_report
    from automl_nas.study.storage import Heartbeat, absolute_url, local_file

    overrides = list(overrides)
    session = session or open_session()
    plan = session.plan(path, profile=profile, overrides=overrides)
    recipe = plan.recipe
    preflight(plan)  # refused before the first trial (issue 13)
    cfg = check_study(session, plan, path, profile, overrides)
    if plan.evaluator is not None:  # built here only to read what it reports (a table loads lazily)
        check_reported_metrics(cfg, plan.evaluator.build(session.registry), source=str(path))
    cfg = attrs.evolve(cfg, trials=trials or cfg.trials, storage=storage or cfg.storage)
    _refuse_in_memory(cfg.storage, source=str(path))  # --storage (the recipe's study.storage: check_study)
    on_ray = recipe.executor.uses_ray(cfg.parallelism, address)
    from automl_nas.execution.cluster import joined_cluster

    # A head that is unreachable or refuses this client's token is refused before the study
    # directory or its storage exists.
    joined = joined_cluster(address or recipe.executor.address or None, cfg.root or recipe.run.root, quiet=quiet,
                            cpus=recipe.executor.cpus, gpus=recipe.executor.gpus, source=str(path)) if on_ray else contextlib.nullcontext()
    with joined:
        overrides += trial_threads(recipe) + trial_device(recipe, "ray" if on_ray else "local")
        from automl_nas.records.job_copy import refuse_job_copy

        refuse_job_copy(cfg.root or recipe.run.root, key="study.root or run.root")
        base = Path(cfg.root) if cfg.root else Path(recipe.run.root) / "studies"
        unusable_path(base, what="study root", option="study.root (or run.root)")
        study_dir = base.resolve() / safe_name(cfg.name)
        created = not study_dir.exists()
        try:
            study_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"{study_dir}: cannot create the study directory ({exc.strerror or exc})",
                           hint="choose a writable study.root or run.root") from None
        url = absolute_url(cfg.storage or f"sqlite:///{study_dir / 'study.db'}")
        seed = recipe.seed if cfg.seed is None else cfg.seed
        with _removed_if_unused(study_dir, created), directory_lock(study_dir, what="study driver"):
            bound = _check_study_dir(study_dir, url)
            local = local_file(url)  # the SQLite or journal file the opening makes
            fresh = local is not None and not local.exists()
            study = open_study(cfg, url, seed, protocol=protocol_of(plan, cfg.params))
            try:
                _refuse_unknown_trial_dirs(study, study_dir, url)
            except RunError:
                if fresh:  # the storage opening just made it: a refused study leaves nothing new
                    local.unlink(missing_ok=True)
                raise
            if not bound:  # only once the storage opened: a URL that cannot be opened binds nothing
                _bind_study_dir(study_dir, cfg.name, url)
            driver = _Driver(cfg=cfg, study=study, study_dir=study_dir, recipe_path=str(Path(path).resolve()),
                             profile=profile, overrides=overrides, seed=recipe.seed, pm=session.pm, sampler_seed=seed,
                             quiet=quiet,
                             ranks=recipe.executor.ranks, heartbeat=Heartbeat())
            with driver.heartbeat, _storage_writes(cfg.name, url):
                try:
                    _loop(driver, _executor(recipe.executor, cfg, study_dir, address, on_ray, quiet, driver.on_epoch))
                except AutomlError as exc:
                    _report_what_finished(study, study_dir, cfg)  # a study stopped by failures or Ctrl-C
                    if exc.result is None:  # stdout carries what the study holds, as for Ctrl-C (it was empty)
                        from automl_nas.study.report import best_trials

                        exc.result = {"status": "failed", "study": cfg.name, "study_dir": str(study_dir),
                                      "trials": _counted(study), "best": best_trials(study, study_dir)}
                    raise
            files = write_report(study, study_dir, cfg)
        return {"status": "finished", "study": cfg.name, "storage": url, "study_dir": str(study_dir),
                "trials": _counted(study), **files}


def _report_what_finished(study, study_dir: Path, cfg: StudyConfig) -> None:
    """The report of a study that stopped early (its trials failing, Ctrl-C), over the trials it
    finished; only `show`, reading the storage, recovered them. Its own failure is not hidden."""
    from automl_nas.study.report import write_report

    if not _counted(study):
        return
    try:
        write_report(study, study_dir, cfg)
    except AutomlError:
        pass  # the study's own error is the one to report


@contextlib.contextmanager
def _removed_if_unused(study_dir: Path, created: bool) -> Iterator[None]:
    """A study refused before it wrote anything (a storage URL that cannot be opened) leaves no
    empty directory behind: nothing is created for a refused run."""
    try:
        yield
    except BaseException:
        if created and study_dir.is_dir() and not any(study_dir.iterdir()):
            study_dir.rmdir()
        raise


@contextlib.contextmanager
def _storage_writes(name: str, url: str) -> Iterator[None]:
    """A storage that refuses a write mid-study (a full disk under SQLite or a journal file, a
    database that went read-only) stops the driver with the reason; what it recorded stays."""
    import optuna

    try:
        yield
    except optuna.exceptions.StorageInternalError as exc:  # RDB storage: the database's own error is the cause
        raise _storage_failed(name, url, one_line(exc.__cause__ or exc)) from None
    except OSError as exc:
        if not url.startswith("journal:"):  # only a journal file's writes raise it as themselves
            raise
        raise _storage_failed(name, url, exc.strerror or one_line(exc)) from None


def _storage_failed(name: str, url: str, reason: str) -> RunError:
    return RunError(f"study {name!r}: a write to its storage {url} failed ({reason})",
                    hint="free disk space where the storage lives (or make the database writable again), then run "
                         "the same `automl study` command again: the trials it recorded are kept")


def _check_study_dir(study_dir: Path, url: str) -> bool:
    """Whether ``study_dir`` is already bound to ``url`` (its ``study.json``); refuse it when bound
    to another storage. A study directory holds one study's trials: another storage's study
    numbered its trials from 0 again and took the directory's ``trial-0000``, finished under other
    parameters, for its own (records from another study, told as this one's)."""
    import json

    from automl_nas.study.storage import bound_storage

    binding = study_dir / "study.json"
    if not binding.exists():
        return False
    try:
        held = json.loads(binding.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{binding} cannot be read ({one_line(exc)})",
                       hint="restore it, or give the study another study.name or study.root") from None
    # A binding written before URLs were made absolute named a relative file from this directory;
    # one inside the directory is named relative to it too (a moved study directory keeps its file).
    bound = bound_storage(study_dir, held)
    if bound == url:
        if held.get("storage") != url:  # moved: the record names where it is now
            _bind_study_dir(study_dir, str(held.get("study")), url)
        return True
    raise RunError(f"{study_dir} holds the trials of study {held.get('study')!r} in storage {bound!r}; this "
                   f"command's storage is {url!r}",
                   hint=f"continue that study with --storage {bound!r}, or start another in its own directory: "
                        f"--set study.name=... or study.root=...")


def _bind_study_dir(study_dir: Path, name: str, url: str) -> None:
    """Write ``study.json``, naming the storage whose study owns ``study_dir`` (a directory from
    before study.json is adopted)."""
    from automl_nas.records.rundir import atomic_write_json

    from automl_nas.study.storage import binding_record

    atomic_write_json(study_dir / "study.json", binding_record(study_dir, name, url),
                      hint="free disk space or fix the permissions, then run the same `automl study` command again")


def _refuse_unknown_trial_dirs(study: Any, study_dir: Path, url: str) -> None:
    """A ``trial-NNNN`` directory that no trial of the storage ran: its storage was emptied or
    replaced (``study.db`` deleted to start over). The study's trial NNNN would take that run,
    finished under other parameters, for its own and tell its value."""
    import re

    known = {Path(t.user_attrs["run_dir"]).name for t in study.get_trials(deepcopy=False) if "run_dir" in t.user_attrs}
    strays = sorted(p.name for p in study_dir.iterdir() if re.fullmatch(r"trial-\d+", p.name) and p.name not in known)
    if strays:
        raise RunError(f"{study_dir} holds trial directories that no trial of study {study.study_name!r} in {url} "
                       f"ran ({', '.join(strays[:3])}{', ...' if len(strays) > 3 else ''}): its storage was emptied or "
                       f"replaced, and new trials would take those runs for their own",
                       hint="restore the storage that ran them, or start the study in its own directory: "
                            "--set study.name=... or study.root=... (the runs there are kept)")


def _executor(executor_cfg: Any, cfg: StudyConfig, study_dir: Path, address: str | None, on_ray: bool, quiet: bool,
              on_epoch: Any) -> Any:
    from automl_nas.execution.executor import LocalExecutor, RayTaskExecutor

    if not on_ray:
        return LocalExecutor(retries=executor_cfg.retries, on_epoch=on_epoch)
    return RayTaskExecutor(batch_dir=study_dir, parallel=cfg.parallelism, cpus=executor_cfg.cpus, gpus=executor_cfg.gpus,
                           retries=executor_cfg.retries, address=address or executor_cfg.address or None, quiet=quiet,
                           on_epoch=on_epoch)


def check_study(session: Any, plan: Plan, path: str | Path, profile: str | None, overrides: list[str]) -> StudyConfig:
    """The recipe's ``[study]``, checked as far as it can be without a trial (``automl study``
    before its first trial, ``automl validate``): its table, the metric paths into result.json
    and every parameter at the ends of its range."""
    from automl_nas.recipe import name_key_origins

    try:
        return _check_study(session, plan, path, profile, overrides)
    except RecipeError as exc:  # a value the profile or a --set gave is named as theirs
        name_key_origins(exc, path, profile, overrides)
        raise


def _check_study(session: Any, plan: Plan, path: str | Path, profile: str | None, overrides: list[str]) -> StudyConfig:
    cfg = load_study_config(plan.recipe.study, source=str(path), recipe_name=plan.recipe.name)
    check_result_paths(cfg, has_evaluator=plan.evaluator is not None, source=str(path))
    check_directions(plan.recipe.study, cfg, source=str(path))
    check_intermediate(cfg, plan, source=str(path))
    _refuse_in_memory(cfg.storage, source=str(path))
    _refuse_tuned_overrides(cfg, overrides, source=str(path))
    check_params(session, path, profile, overrides, cfg)  # a mistyped key fails here, before any trial
    return cfg


def check_intermediate(cfg: StudyConfig, plan: Plan, *, source: str) -> None:
    """``study.intermediate`` against what the epoch records can hold, before any trial: a
    misspelt built-in key, or an ``eval.*`` key of a search that evaluates only at its end, was
    found only after the first trial's whole search. (A sampler's status keys are its own, so
    an unknown key is refused only when it is close to a built-in one.)"""
    from automl_nas.records.schema import EPOCH_NUMBERS

    if not _prunes(cfg):
        return
    key, where = cfg.intermediate, f"{source}: study.intermediate = {cfg.intermediate!r}"
    if not key.strip():
        raise RecipeError(f"{where}: empty, so no epoch reports a value and the pruner could never act",
                          hint="name an epoch key such as valid_acc (the default), or set study.pruner = \"none\"")
    if key.startswith("eval."):
        _check_intermediate_direction(cfg, where)
        every, epochs = plan.recipe.search.eval_every, plan.recipe.search.epochs
        if plan.evaluator is None or every == 0 or every > epochs:
            raise RecipeError(f"{where}: eval.* is recorded only in the epochs the evaluator scores, and this search "
                              f"scores {'nothing' if plan.evaluator is None else 'only after its last epoch'}"
                              + (f" (search.eval_every = {every} > search.epochs = {epochs})" if every > epochs else ""),
                              hint="set search.eval_every = 1 (every epoch; with a table evaluator this is cheap), or "
                                   "prune on valid_acc")
        return
    _check_intermediate_direction(cfg, where)
    if "." in key or key in EPOCH_NUMBERS or key.startswith("entropy_"):
        return
    close = did_you_mean(key, EPOCH_NUMBERS)
    if close:
        raise RecipeError(f"{where}: not a key of the epoch records{close}",
                          hint=f"name one of {', '.join(EPOCH_NUMBERS)}, a sampler status key (temperature), or "
                               f"eval.NAME with search.eval_every > 0")


def _check_intermediate_direction(cfg: StudyConfig, where: str) -> None:
    """The pruner ranks the per-epoch value in the study's direction: a value that rises as trials
    get better (valid_acc) in a study that minimises (costs.params) pruned the best trials."""
    from automl_nas.study.config import looks_like_a_cost

    direction = cfg.objectives[0][1]
    falls = looks_like_a_cost(cfg.intermediate)
    if falls != (direction == "minimize"):
        raise RecipeError(f"{where}: the pruner compares it across trials in the study's direction ({direction}), and "
                          f"{cfg.intermediate} {'falls' if falls else 'rises'} as a trial gets better: it would prune "
                          f"the best trials", hint=f"set study.intermediate to a per-epoch value that "
                                                   f"{'falls' if direction == 'minimize' else 'rises'} as the metric "
                                                   f"improves, or study.pruner = \"none\"")


def check_reported_metrics(cfg: StudyConfig, evaluator: Any, *, source: str) -> None:
    """``metrics.NAME`` objectives against the metrics the recipe's evaluator declares, before any
    trial: a name it does not report was found only in trial 0's result.json, after that trial's
    whole search."""
    from automl_nas.evaluation import check_reported

    key = "study.metrics" if cfg.metrics else "study.metric"
    for path in (cfg.metrics or [cfg.metric]):
        head, _, name = path.partition(".")
        if head == "metrics":
            check_reported(evaluator, name, where=f"{source}: {key} = {path!r}",
                           hint=f"name one of them, or set the evaluator's options so that it reports {name!r} "
                                f"(`automl plugins --options {evaluator.name}`)")


def _refuse_in_memory(url: str, *, source: str) -> None:
    """An in-memory storage, or a URL that cannot name one (:func:`~automl_nas.study.storage.storage_problem`),
    refused by validate too."""
    from automl_nas.study.storage import in_memory, storage_problem

    problem = storage_problem(url) if url else ""
    if problem:
        raise RecipeError(f"{source}: study storage {url!r} {problem}",
                          hint="use sqlite:///PATH or journal:PATH in an existing directory, or a database URL "
                               "(postgresql://..., mysql://...); leave study.storage out for the study directory's "
                               "study.db")
    if in_memory(url):  # an internal error (Record does not exist): the driver opens the storage more than once
        raise RecipeError(f"{source}: study storage {url!r} is in memory: it ends with this driver, and each opening "
                          f"of it is a new, empty database (the study could be neither continued nor shown)",
                          hint="use sqlite:///PATH or journal:PATH, or leave the storage out for the study "
                               "directory's study.db")


def _refuse_tuned_overrides(cfg: StudyConfig, overrides: list[str], *, source: str) -> None:
    """A ``--set`` of a key the study tunes: every trial sets its own value over it, so it was
    silently dropped."""
    from automl_nas.recipe.overrides import parse_assignment

    def sets(key: str, value: Any, tuned: str) -> bool:  # a table sets the tuned key only if it holds it
        if tuned == key or key.startswith(f"{tuned}."):
            return True
        if not tuned.startswith(f"{key}."):
            return False
        for part in tuned[len(key) + 1:].split("."):
            if not isinstance(value, dict) or part not in value:
                return False
            value = value[part]
        return True

    for item in overrides:
        try:
            key, value = parse_assignment(item)
        except RecipeError:
            continue
        tuned = next((p for p in cfg.params if sets(key, value, p)), None)
        if tuned is not None:
            raise RecipeError(f"{source}: --set {item}: the study tunes {tuned} (study.params), so every trial sets its "
                              f"own value over this one", hint=f"leave the --set out, or take {tuned!r} out of "
                                                               f"[study.params] (or narrow its range)")


def check_params(session: Any, path: str | Path, profile: str | None, overrides: list[str], cfg: StudyConfig) -> None:
    """Plan the recipe with each ``[study.params]`` key at its range's ends (or every choice),
    so a mistyped key or an out-of-range bound is refused before the first trial; then with
    the numeric parameters at every corner of their box together (:data:`MAX_CORNER_PARAMS` of
    them at most), so ranges that clash (a temperature's start range below its end range) are
    refused too: every trial drawing such values failed."""
    import itertools

    for key, spec in cfg.params.items():
        values = list(spec.choices or []) if spec.type == "categorical" else [spec.low, spec.high]
        for value in values:
            value = _typed(spec, value)
            try:
                session.plan(path, profile=profile, overrides=[*overrides, to_override(key, value)])
            except RecipeError as exc:
                raise RecipeError(f"{path}: study.params.{key} = {value!r} does not give a valid recipe: {exc.message}",
                                  hint="fix the key (a dotted recipe key such as search.sampler.temperature.start) "
                                       "or its range") from None
    numeric = [(key, spec) for key, spec in cfg.params.items() if spec.type != "categorical"][:MAX_CORNER_PARAMS]
    if len(numeric) < 2:
        return
    for corner in itertools.product(*[(spec.low, spec.high) for _, spec in numeric]):
        chosen = [(key, _typed(spec, value)) for (key, spec), value in zip(numeric, corner)]
        try:
            session.plan(path, profile=profile, overrides=[*overrides, *(to_override(k, v) for k, v in chosen)])
        except RecipeError as exc:
            together = ", ".join(f"{k} = {v!r}" for k, v in chosen)
            raise RecipeError(f"{path}: study.params: {together} together do not give a valid recipe: {exc.message}",
                              hint="narrow the ranges so that every combination of their values is a valid recipe "
                                   "(a trial may draw any of them, and such a trial fails)") from None


#: Numeric parameters whose range corners are planned together (2^N plans).
MAX_CORNER_PARAMS = 6


def _typed(spec: Any, value: Any) -> Any:
    return int(value) if spec.type == "int" else (float(value) if spec.type == "float" else value)


def _loop(driver: _Driver, executor: Any) -> None:
    """Ask while the executor has a free slot and the study needs trials; tell as they end."""
    from automl_nas.execution.executor import TrialExecutor
    from automl_nas.interrupts import sigterm_as_ctrl_c

    ex: TrialExecutor = executor
    try:
        # SIGTERM as Ctrl-C for the whole loop: on Ray the driver only waits (no engine's stop guard
        # runs here), and it died at once, without its re-queue, summary or way on (exit 143)
        with sigterm_as_ctrl_c(), ex:
            while True:
                while ex.free() and _counted(driver.study) + ex.running < driver.cfg.trials:
                    ex.submit(driver.ask(), answer=driver.prunes)
                if not ex.running:
                    break
                driver.tell(ex.wait())
    except (Interrupted, KeyboardInterrupt) as exc:
        from automl_nas.interrupts import signals_held
        from automl_nas.study.report import best_trials

        with signals_held():  # a second Ctrl-C here lost the re-queue's end, the hint and the summary
            driver.stopped()
            said = exc.message if isinstance(exc, Interrupted) else f"study {driver.cfg.name!r} stopped"
            stopped = Interrupted(said, hint="run the same `automl study` command again: it continues the stopped "
                                             "trials from their checkpoints and keeps the finished ones")
            # stdout still carries what the study holds, as `automl run` reports a stopped run
            stopped.result = {"status": "interrupted", "study": driver.cfg.name, "study_dir": str(driver.study_dir),
                              "trials": _counted(driver.study), "best": best_trials(driver.study, driver.study_dir)}
        raise stopped from None
    except Exception as exc:
        from automl_nas.execution.cluster import lost_to_ray, short_error

        if not lost_to_ray(exc):
            raise
        driver.stopped()
        raise RunError(f"study {driver.cfg.name!r} stopped: Ray lost a worker, a node or its head "
                       f"({type(exc).__name__}: {short_error(exc)})",
                       hint="run the same `automl study` command again once the cluster is back (or without "
                            "--address and RAY_ADDRESS, on this machine): the stopped trials continue from their "
                            "checkpoints and the finished ones are kept") from None
