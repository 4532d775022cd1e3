"""Several seeds of one recipe as trials, locally or on Ray, with an aggregate.

Layout of the parent directory (default ``<run.root>/<recipe>-seeds-<time>``)::

    seed-0/ seed-1/ ...      one run directory per seed
    attempts/seed-k.jsonl    one line per attempt (status, error)
    aggregate.json           mean ± std of every numeric result metric, per-seed table
    trials.csv               the per-seed table
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

from automl_nas.execution.aggregate import aggregate, write_trials_csv
from automl_nas.execution.trial import TrialResult, TrialSpec

__all__ = ["run_seed_trials", "seed_specs"]


def seed_specs(path: str | Path, *, profile: str | None, overrides: Iterable[str], seeds: Iterable[int],
               parent: Path) -> list[TrialSpec]:
    recipe_path = str(Path(path).resolve())
    return [TrialSpec(recipe_path=recipe_path, profile=profile, overrides=[*overrides, f"seed={seed}"], seed=seed,
                      run_dir=str(parent / f"seed-{seed}"), name=f"seed-{seed}") for seed in seeds]


def _parent_dir(recipe, run_dir: str | Path | None) -> Path:
    if run_dir is not None:
        return Path(run_dir).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parent = Path(recipe.run.root) / f"{recipe.name}-seeds-{stamp}"
    n = 1
    while parent.exists():
        n += 1
        parent = Path(recipe.run.root) / f"{recipe.name}-seeds-{stamp}-{n}"
    return parent.resolve()


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
    from automl_nas.preflight import preflight
    from automl_nas.recipe import load_recipe, resolve
    from automl_nas.session import open_session

    overrides = list(overrides or [])
    recipe = load_recipe(path, profile=profile, overrides=overrides)  # fail fast on a bad recipe, in the driver
    pm, registry = open_session()
    preflight(resolve(recipe, registry, source=str(path)))  # missing table or data: refused before any trial
    cfg = recipe.executor
    address = address or cfg.address or None
    executor = "ray" if address else (executor or cfg.name)
    parent = _parent_dir(recipe, run_dir)
    parent.mkdir(parents=True, exist_ok=True)
    specs = seed_specs(path, profile=profile, overrides=overrides, seeds=seeds, parent=parent)

    def trial_end(outcome: TrialResult) -> None:
        pm.hook.automl_trial_end(trial=outcome.spec, result=outcome.record())

    if executor == "ray":
        from automl_nas.execution.ray import run_on_ray

        results = run_on_ray(specs, cpus=cfg.cpus, gpus=cfg.gpus, retries=cfg.retries, storage=parent / "ray",
                             address=address, quiet=quiet, on_result=trial_end)
    else:
        from automl_nas.execution.local import run_local

        results = run_local(specs, retries=cfg.retries, on_result=trial_end)
    return _write_summary(parent, recipe.name, results)


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
