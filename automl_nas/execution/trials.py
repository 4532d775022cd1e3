"""Several seeds of one recipe as trials, locally or on Ray, with an aggregate.

Layout of the parent directory (default ``<run.root>/<recipe>-seeds-<time>``)::

    seed-0/ seed-1/ ...      one run directory per seed
    attempts/seed-k.jsonl    one line per attempt (status, error)
    aggregate.json           mean ± std of every numeric result metric, per-seed table
    trials.csv               the per-seed table
    batch.json               the planned trials and executor (what `automl run --resume` finishes)
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Iterable

import attrs

from automl_nas.execution.aggregate import aggregate, write_trials_csv
from automl_nas.execution.batch import SeedBatch, read_batch, write_batch
from automl_nas.execution.trial import TrialResult, TrialSpec
from automl_nas.records.input_files import check_unchanged, input_files

__all__ = ["reserved_device", "resume_seed_trials", "run_seed_trials", "seed_specs", "trial_device", "trial_threads"]


def seed_specs(path: str | Path, *, profile: str | None, overrides: Iterable[str], seeds: Iterable[int],
               parent: Path, ranks: int = 1) -> list[TrialSpec]:
    recipe_path = str(Path(path).resolve())
    return [TrialSpec(recipe_path=recipe_path, profile=profile, overrides=[*overrides, f"seed={seed}"], seed=seed,
                      run_dir=str(parent / f"seed-{seed}"), name=f"seed-{seed}", ranks=ranks) for seed in seeds]


def _parent_dir(recipe, run_dir: str | Path | None) -> Path:
    from automl_nas.errors import RunError
    from automl_nas.records.rundir import reserve_free, safe_name, unusable_path

    if run_dir is not None:
        unusable_path(Path(run_dir), what="seed batch directory")
        parent = Path(run_dir).resolve()
        held = [d for d in parent.glob("seed-*") if d.is_dir() and any(d.iterdir())] if parent.is_dir() else []
        if held or (parent / "aggregate.json").exists() or (parent / "batch.json").exists():
            raise RunError(f"{parent} already holds a seed batch; an earlier batch is never written into",
                           hint=f"choose a new --run-dir, or finish that batch with `automl run --resume {parent}`")
        if any((parent / f).exists() for f in ("recipe.toml", "metrics.jsonl", "result.json")):
            raise RunError(f"{parent} already holds a run; a seed batch is never written into it",
                           hint="choose a new --run-dir for the seed batch")
        return parent
    stamp = time.strftime("%Y%m%d-%H%M%S")
    unusable_path(Path(recipe.run.root), what="run root", option="run.root")
    # created here: another batch started in the same second takes the next name
    return reserve_free(Path(recipe.run.root).resolve() / f"{safe_name(recipe.name)}-seeds-{stamp}")


def trial_threads(recipe) -> list[str]:
    """The override that gives every trial the same torch thread count wherever it runs.

    Ray workers start with one OpenMP thread and a local process with torch's default, and
    float reductions differ with the thread count; so ``run.threads = 0`` (torch's default)
    becomes the executor's CPUs per trial, on every executor alike."""
    if recipe.run.threads:
        return []
    # A trial of several ranks shares its CPUs among them.
    return [f"run.threads={max(1, int(recipe.executor.cpus) // recipe.executor.ranks)}"]


def trial_device(recipe, executor: str) -> list[str]:
    """The override that makes a Ray trial's device follow its reservation (issue 14).

    Ray hides no GPU from a task that reserved none, so ``run.device = "auto"`` on a GPU node
    would take a GPU the scheduler gave to another trial: on Ray, ``auto`` becomes ``cuda``
    when ``executor.gpus > 0`` (Ray's ``CUDA_VISIBLE_DEVICES`` then shows only the reserved
    GPU, or a share of it with fractional ``gpus``) and ``cpu`` otherwise. A CUDA device
    without a reservation is refused. Locally ``auto`` keeps its meaning."""
    device, gpus, ranks = recipe.run.device, recipe.executor.gpus, recipe.executor.ranks
    _check_ranks_fit(device, gpus, ranks, executor)
    if executor != "ray":
        return []
    reserved = reserved_device(device, gpus, what="trial")
    return [f"run.device={reserved}"] if reserved != device else []


def reserved_device(device: str, gpus: float, *, what: str) -> str:
    """The device of work Ray runs with ``gpus`` reserved, for ``run.device = device``: ``auto``
    is ``cuda`` with a reservation and ``cpu`` without; CUDA without one is refused (``what``
    names the work in the error: a trial, an evaluation)."""
    from automl_nas.errors import RecipeError

    if device == "auto":
        return "cuda" if gpus > 0 else "cpu"
    if device.startswith("cuda") and gpus <= 0:
        raise RecipeError(f"run.device = {device!r} but executor.gpus = 0: Ray reserves no GPU for the {what}, "
                          f"so it would use one the scheduler gave to another {what}",
                          hint=f"set executor.gpus (e.g. --set executor.gpus=1, or 0.25 to share one GPU among four "
                               f"{what}s), or run.device = \"auto\" to run CPU {what}s on the CPU")
    if device.startswith("cuda:"):
        # Ray's CUDA_VISIBLE_DEVICES shows a task only its reserved GPUs, numbered from 0.
        raise RecipeError(f"run.device = {device!r} names a GPU of this machine, but on Ray each {what} runs on the "
                          f"GPU Ray reserved for it, which it sees as cuda:0",
                          hint="use run.device = \"cuda\" (or \"auto\") with executor.gpus")
    return device


def run_seed_trials(path: str | Path, *, profile: str | None = None, overrides: list[str] | None = None,
                    seeds: Iterable[int] = (0,), executor: str | None = None, address: str | None = None,
                    quiet: bool = False, run_dir: str | Path | None = None) -> dict:
    """Run ``seeds`` of the recipe at ``path`` as trials and aggregate them.

    ``executor`` defaults to the recipe's ``[executor] name`` (``ray`` whenever an
    address is given); ``run_dir`` is the parent directory. Returns
    ``{"status", "run_dir", "aggregate", "trials"}``; ``status`` is ``finished``
    when every seed finished, ``partial`` when some did, ``failed`` otherwise.

    Example:
        >>> run_seed_trials("recipes/gdas.toml", profile="quick", seeds=[0, 1, 2], executor="ray")  # doctest: +SKIP
    """
    from automl_nas.errors import RunError
    from automl_nas.preflight import preflight
    from automl_nas.records.lock import directory_lock
    from automl_nas.session import open_session

    overrides = list(overrides or [])
    session = open_session()
    # Fail fast in the driver, before any trial: a bad recipe, unknown components or options,
    # a missing benchmark table or data set.
    plan = session.plan(path, profile=profile, overrides=overrides)
    preflight(plan)
    recipe = plan.recipe
    cfg = recipe.executor
    address = address or cfg.address or None
    executor = "ray" if address else (executor or cfg.name)
    overrides += trial_threads(recipe) + trial_device(recipe, executor)
    joined = contextlib.nullcontext()
    if executor == "ray":
        from automl_nas.execution.cluster import joined_cluster, resolve_address

        address = resolve_address(address)  # RAY_ADDRESS too: `ray job submit` sets it for the job's driver
        # before anything is created: a head that is unreachable or refuses the token leaves no directory
        joined = joined_cluster(address, run_dir or recipe.run.root, quiet=quiet, cpus=cfg.cpus, gpus=cfg.gpus,
                                source=str(path))
    with joined:
        from automl_nas.records.job_copy import refuse_job_copy

        refuse_job_copy(run_dir or recipe.run.root, key="--run-dir or run.root")
        try:
            parent = _parent_dir(recipe, run_dir)
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"{exc.filename or run_dir or recipe.run.root}: cannot create the seed batch directory "
                           f"({exc.strerror or exc})", hint="choose a writable --run-dir or run.root") from None
        specs = seed_specs(path, profile=profile, overrides=overrides, seeds=seeds, parent=parent, ranks=cfg.ranks)
        batch = SeedBatch(recipe=recipe.name, executor=executor, address=address or "", cpus=cfg.cpus, gpus=cfg.gpus,
                          retries=cfg.retries, storage=cfg.storage, specs=tuple(specs), input_files=input_files(plan))
        with directory_lock(parent, what="seed batch"):
            write_batch(parent, batch)  # what `automl run --resume` finishes if this driver dies
            return _write_summary(parent, recipe.name, _run_specs(specs, parent, batch, session.pm, quiet=quiet))


def _run_specs(specs: list[TrialSpec], parent: Path, batch: SeedBatch, pm, *, quiet: bool,
               experiment: str = "tune") -> list[TrialResult]:
    """The trials' results; a stop (Ctrl-C, SIGTERM) is the batch's interruption on either
    executor: the batch's summary and `automl run --resume BATCH` (locally the stopped trial's
    own summary and resume line were reported, as if it were a single run)."""
    from automl_nas.errors import Interrupted

    ended: list[TrialResult] = []
    try:
        return _run_on_executor(specs, parent, batch, pm, quiet=quiet, experiment=experiment, ended=ended)
    except (Interrupted, KeyboardInterrupt):
        stopped = Interrupted(f"seed batch {parent} stopped; finished trials are kept, and each other trial keeps "
                              f"its last checkpoint", hint=f"continue with `automl run --resume {parent}`")
        finished = [r.spec.name for r in ended if r.status == "finished"]
        interrupted = [s.name for s in specs if s.name not in finished and _stopped(s) == "interrupted"]
        stopped.result = {"status": "interrupted", "run_dir": str(parent),
                          "trials": {"planned": len(specs), "finished": finished, "interrupted": interrupted}}
        raise stopped from None


def _stopped(spec: TrialSpec) -> str | None:
    """How an unfinished trial of a stopped batch ended: its result.json's status, else its last
    attempt's. A Ray trial's worker is stopped without writing its end: the driver closes its
    attempt here."""
    from automl_nas.execution.trial import close_running_attempt, read_attempts, read_trial_result

    result = read_trial_result(Path(spec.run_dir))
    if result is not None:
        return result.get("status")
    close_running_attempt(spec, "interrupted", "stopped with its seed batch (Ctrl-C or SIGTERM on the driver)")
    attempts = read_attempts(spec)
    return attempts[-1].get("status") if attempts else None


def _run_on_executor(specs: list[TrialSpec], parent: Path, batch: SeedBatch, pm, *, quiet: bool, experiment: str,
                     ended: list[TrialResult]) -> list[TrialResult]:
    def trial_end(outcome: TrialResult) -> None:
        ended.append(outcome)
        if not quiet:  # one line per trial (Ray's own tables are off unless asked for)
            print(trial_line(outcome), file=sys.stderr, flush=True)
        pm.hook.automl_trial_end(trial=outcome.spec, result=outcome.record())

    on_epoch = epoch_printer(quiet)
    if batch.executor == "ray":
        from automl_nas.execution.ray import run_on_ray

        return run_on_ray(specs, cpus=batch.cpus, gpus=batch.gpus, retries=batch.retries, storage=parent / "ray",
                          address=batch.address or None, quiet=quiet, on_result=trial_end, experiment=experiment,
                          on_epoch=on_epoch, checkpoint_storage=batch.storage)
    from automl_nas.execution.executor import LocalExecutor, run_all

    return run_all(specs, LocalExecutor(retries=batch.retries, on_epoch=on_epoch), on_result=trial_end)


def epoch_printer(quiet: bool):
    """The driver's ``on_epoch`` for a batch: one progress line per epoch of each running trial
    on stderr (nothing when ``quiet``); it never stops a trial."""
    from automl_nas.execution.epochs import epoch_line

    def on_epoch(event) -> bool:
        if not quiet:
            print(epoch_line(event), file=sys.stderr, flush=True)
        return False

    return on_epoch


def trial_line(outcome: TrialResult) -> str:
    """``trial seed-1: finished (train_loss 0.41, valid_acc 83.2)``: the driver's line when a trial ends."""
    record = outcome.record()
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in list((record.get("metrics") or {}).items())[:2]
                        if isinstance(v, (int, float)))
    tail = f": {outcome.error}" if outcome.error else (f" ({metrics})" if metrics else "")
    retried = f" after {outcome.attempts} attempts" if outcome.attempts > 1 else ""
    return f"trial {outcome.spec.name or outcome.spec.run_dir}: {outcome.status}{retried}{tail}"


def _write_summary(parent: Path, name: str, results: list[TrialResult]) -> dict:
    from automl_nas.records.rundir import atomic_write_json

    records = [r.record() for r in results]
    agg = aggregate(records)
    agg = {"recipe": name, "seeds": [r.spec.seed for r in results], **agg}
    atomic_write_json(parent / "aggregate.json", agg)
    write_trials_csv(parent / "trials.csv", agg["per_seed"])
    ok = agg["succeeded"]
    status = "finished" if ok == len(results) else ("partial" if ok else "failed")
    trials = [{k: rec.get(k) for k in ("seed", "status", "attempts", "run_dir", "error", "genotype")} for rec in records]
    return {"status": status, "run_dir": str(parent), "aggregate": agg, "trials": trials}


def _check_ranks_fit(device: str, gpus: float, ranks: int, executor: str) -> None:
    """A trial of ``ranks`` processes on CUDA puts rank r on the r-th GPU it holds: refuse a
    trial that would hold fewer GPUs than ranks (its rank r would find no ``cuda:r``)."""
    from automl_nas.errors import RecipeError

    if ranks == 1 or device == "cpu":
        return
    if executor == "ray":
        if gpus > 0 and gpus < ranks:
            raise RecipeError(f"executor.ranks = {ranks} on CUDA needs a GPU per rank, but executor.gpus = {gpus:g}",
                              hint=f"set executor.gpus = {ranks} (the GPUs of the whole trial), or fewer ranks")
        return
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible and visible < ranks and device in ("auto", "cuda"):
        raise RecipeError(f"executor.ranks = {ranks} on CUDA needs a GPU per rank, but this machine shows {visible}",
                          hint=f"use at most {visible} ranks, or run.device = \"cpu\" (gloo ranks on the CPU)")


#: Trials one ``--seeds`` batch may hold: a batch directory and a trial table per seed, planned up front.
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` or ``"0,3,7"`` (or a mix) as a list of seeds; a RecipeError names the flag."""
    from collections import Counter

    from automl_nas.errors import RecipeError
    from automl_nas.recipe.model import MAX_SEED

    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(end) for end in part.split("-", 1))
                if lo > hi:  # range() would silently give no seed for this part
                    raise RecipeError(f"--seeds {text!r}: the range {part.strip()} runs backwards",
                                      hint=f"write the lower seed first: {hi}-{lo}")
            elif part.strip():
                lo = hi = int(part)
            else:
                continue
            if lo < 0 or hi > MAX_SEED:  # checked before a range is spelled out
                raise RecipeError(f"--seeds {text!r}: seeds go from 0 to {MAX_SEED}",
                                  hint="give seeds in that range, e.g. --seeds 0-4")
            if len(seeds) + hi - lo + 1 > MAX_SEEDS:
                raise RecipeError(f"--seeds {text!r}: more than {MAX_SEEDS:,} seeds in one batch",
                                  hint=f"run the seeds in batches of at most {MAX_SEEDS:,}, e.g. --seeds 0-99")
            seeds.extend(range(lo, hi + 1))
    except ValueError:
        raise RecipeError(f"--seeds {text!r}: expected a range such as 0-4 or a list such as 0,3,7") from None
    if not seeds:
        raise RecipeError(f"--seeds {text!r}: no seeds given", hint="e.g. --seeds 0-4 or --seeds 0,3,7")
    twice = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if twice:  # both trials would run in one directory, seed-N, and the batch would count the run twice
        raise RecipeError(f"--seeds {text!r} names seed{'s' if len(twice) > 1 else ''} {', '.join(map(str, twice))} "
                          f"more than once", hint="give each seed once, e.g. --seeds 0-4")
    return seeds


def _finished(spec: TrialSpec) -> TrialResult | None:
    from automl_nas.execution.trial import read_attempts, read_trial_result

    result = read_trial_result(spec.run_dir)
    if result is None or result.get("status") != "finished":
        return None
    return TrialResult(spec=spec, status="finished", result=result, attempts=max(len(read_attempts(spec)), 1))


def _rebased(batch: SeedBatch, parent: Path) -> tuple[SeedBatch, str]:
    """``batch`` with its trials' directories under ``parent``, and where they were when the batch
    lies elsewhere now (moved or copied: the resume wrote into the old place, the original of a copy)."""
    specs = tuple(attrs.evolve(s, run_dir=str(parent / Path(s.run_dir).name)) for s in batch.specs)
    old = next((str(Path(s.run_dir).parent) for s in batch.specs if Path(s.run_dir).parent != parent), "")
    return (attrs.evolve(batch, specs=specs), old) if old else (batch, "")


def resume_seed_trials(parent: str | Path, *, quiet: bool = False, executor: str | None = None,
                       address: str | None = None) -> dict:
    """Finish the seed batch in ``parent``: trials that finished are kept as they are, the
    others run (resuming from their checkpoints) on the batch's executor, or on ``executor`` /
    the cluster at ``address`` when given (its head is gone, say), which ``batch.json`` then
    records; then the aggregate is rewritten. Returns the same summary as
    :func:`~automl_nas.execution.trials.run_seed_trials`."""
    from automl_nas.errors import RunError
    from automl_nas.execution.cluster import check_address
    from automl_nas.records.lock import directory_lock
    from automl_nas.session import open_session

    parent = Path(parent).resolve()
    batch, moved = _rebased(read_batch(parent), parent)
    if address:
        batch = attrs.evolve(batch, executor="ray", address=address)
    elif executor:
        batch = attrs.evolve(batch, executor=executor, address="" if executor == "local" else batch.address)
    elif batch.executor == "ray" and batch.address and batch.address != "auto":
        try:
            check_address(batch.address)
        except RunError as exc:  # the batch names its head: dropping RAY_ADDRESS would not help
            raise RunError(exc.message, hint=f"finish the batch elsewhere: `automl run --resume {parent} --executor "
                                             f"local` (this machine) or `--address HOST:PORT` (another cluster); "
                                             f"its trials continue from their checkpoints") from None
    session = open_session()
    if batch.specs:  # a file the trials read that changed would mix two data sets in one aggregate
        first = batch.specs[0]
        plan = session.plan(first.recipe_path, profile=first.profile, overrides=list(first.overrides))
        check_unchanged(batch.input_files, plan, run_dir=parent, what="seed batch")
    log = (lambda _m: None) if quiet else (lambda m: print(m, file=sys.stderr))
    with directory_lock(parent, what="seed batch", log=log):
        if moved:
            log(f"note: {parent} was moved or copied from {moved}; its trials continue here")
        if executor or address or moved:
            write_batch(parent, batch)
        done = {s.run_dir: r for s in batch.specs if (r := _finished(s)) is not None}
        todo = [s for s in batch.specs if s.run_dir not in done]
        log(f"resuming {parent}: {len(done)} of {len(batch.specs)} trials finished, running {len(todo)}")
        ran = _run_specs(todo, parent, batch, session.pm, quiet=quiet,
                         experiment=f"tune-resumed-{time.strftime('%Y%m%d-%H%M%S')}") if todo else []
        by_dir = {**done, **{r.spec.run_dir: r for r in ran}}
        return _write_summary(parent, batch.recipe, [by_dir[s.run_dir] for s in batch.specs])
