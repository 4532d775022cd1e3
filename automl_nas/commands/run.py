"""``automl run``: one search, several seeds as trials, or a resumed run."""

from __future__ import annotations

import json
import os

import click

from automl_nas.commands._support import (
    command_session,
    handle_errors,
    nonempty_path,
    refuse_under_torchrun,
    summary_even_if_stopped,
    work_off_stdout,
)

__all__ = ["run"]


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--profile", "-p", help="Apply [profile.NAME] of the recipe (every shipped recipe has `quick`).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, e.g. --set search.epochs=2 --set data.name=cifar10 (value parsed as TOML).")
@click.option("--run-dir", type=click.Path(file_okay=False), callback=nonempty_path, help="Write the run here instead of run.root/<recipe>-<time>.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, exists=True),
              help="Continue an interrupted run from its last checkpoint, or finish a seed batch "
                   "(its finished trials are kept) (RECIPE not needed).")
@click.option("--seeds", help="Run several seeds as trials, e.g. 0-4 or 0,3,7.")
@click.option("--executor", type=click.Choice(["local", "ray"]), help="Where trials run (default: the recipe's executor.name).")
@click.option("--address", help="Ray cluster to join: auto or HOST:PORT of the head (default: RAY_ADDRESS, set by `ray job submit`); implies --executor ray.")
@click.option("--tracker", "trackers", multiple=True, metavar="NAME",
              help="Feed an experiment tracker (tensorboard, wandb, mlflow; repeatable); replaces the recipe's run.trackers.")
@click.option("--ray-output", is_flag=True, envvar="AUTOML_NAS_RAY_OUTPUT",
              help="Show Ray's own output (Tune's tables, worker logs); off by default: one line per trial instead.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output; the result is still printed.")
@handle_errors
def run(recipe, profile, overrides, run_dir, resume_dir, seeds, executor, address, trackers, ray_output, quiet) -> None:
    """Run the search described by RECIPE and write a run directory.

    \b
    Examples:
      automl run recipes/snas.toml --profile quick
      automl run recipes/gdas.toml --set search.epochs=10 --set run.device=cuda
      automl run --resume runs/gdas-20260101-120000
      automl run --resume runs/gdas-seeds-20260101-120000
      automl run recipes/drnas.toml -p quick --seeds 0-2 --executor ray
      automl run recipes/snas.toml -p quick --tracker tensorboard
    """
    from automl_nas.errors import RecipeError
    from automl_nas.execution.batch import is_seed_batch
    from automl_nas.records.strict_json import dumps as strict_json_dumps
    from automl_nas.session import resume_run, run_recipe_file

    if resume_dir:
        ignored = [flag for flag, given in (("RECIPE", recipe), ("--profile", profile), ("--set", overrides),
                                             ("--tracker", trackers), ("--seeds", seeds is not None),
                                             ("--run-dir", run_dir)) if given]
        if not is_seed_batch(resume_dir):  # a seed batch may move to another executor or cluster; a run may not
            ignored += [flag for flag, given in (("--executor", executor), ("--address", address)) if given]
        if ignored:
            saved = "the trials planned in batch.json" if is_seed_batch(resume_dir) else "the recipe saved in recipe.toml"
            raise RecipeError(f"--resume continues {resume_dir} with {saved}; {', '.join(ignored)} would not be applied",
                              hint="drop them to continue it as it was, or start a new run (a new --run-dir) with the "
                                   "changed recipe")
    elif recipe is None:
        raise click.UsageError("give a RECIPE file (or --resume RUN_DIR)")
    if resume_dir and is_seed_batch(resume_dir):
        refuse_under_torchrun("resuming a seed batch")
    elif not resume_dir and (seeds is not None or executor == "ray" or address):
        refuse_under_torchrun("--seeds" if seeds is not None else "--address" if address else "--executor ray")
    if run_dir and not resume_dir:
        from pathlib import Path

        from automl_nas.errors import RunError
        from automl_nas.records.layout import TRIAL_OF, enclosing_records

        place = enclosing_records(Path(run_dir).parent)
        if place is not None and os.environ.get(TRIAL_OF) != str(place):  # a run inside a batch counted among its seeds
            raise RunError(f"--run-dir {run_dir} lies inside the records of {place}, which a new run never writes "
                           f"into", hint="choose a --run-dir outside run, batch, study and search directories")
    if ray_output:  # read where Ray is started (automl_nas.execution.cluster.ray_output)
        os.environ["AUTOML_NAS_RAY_OUTPUT"] = "1"
    quiet = quiet or not _reports()  # under torchrun rank 0 alone shows progress (each rank printed every line)
    session = command_session()  # plugin load errors and name clashes are shown before anything runs
    if trackers:  # a TOML array of strings is written like a JSON one
        overrides = (*overrides, f"run.trackers={json.dumps(list(trackers))}",
                     *_unselected_options_emptied(recipe, profile, overrides, trackers,
                                                  installed=session.registry.names("tracker")))
    # a run that ends interrupted or failed still reports on stdout
    with summary_even_if_stopped(_summary, when=_reports()), work_off_stdout():  # stdout: the JSON summary alone
        if resume_dir and is_seed_batch(resume_dir):  # a seed batch whose driver died: finish it
            from automl_nas.execution.trials import resume_seed_trials

            result = resume_seed_trials(resume_dir, quiet=quiet, executor=executor, address=address)
            _check_batch(result)
        elif resume_dir:
            result = resume_run(resume_dir, quiet=quiet, session=session)
        elif seeds is not None or executor == "ray" or address:
            from automl_nas.execution.trials import parse_seeds, run_seed_trials

            result = run_seed_trials(recipe, profile=profile, overrides=list(overrides),
                                     seeds=parse_seeds(seeds if seeds is not None else "0"), executor=executor,
                                     address=address, quiet=quiet, run_dir=run_dir)
            _check_batch(result)
        else:
            result = run_recipe_file(recipe, profile=profile, overrides=list(overrides), run_dir=run_dir,
                                     quiet=quiet, session=session)
    if _reports():
        if result.get("eval_error"):  # the search finished (exit 0), its score did not: said, not only in the JSON
            click.echo(f"automl: warning: the final evaluation failed, the search's genotype is kept: "
                       f"{result['eval_error']}\n  then: `{result.get('eval_retry') or 'automl eval RUN_DIR'}` "
                       f"scores it again", err=True)
        click.echo(strict_json_dumps(_summary(result), indent=2))


def _check_batch(result: dict) -> None:
    """A seed batch with a failed trial ends as a failed run does (exit 5, the summary still on
    stdout): a script running ``automl run --seeds ... && next`` must not go on with seeds missing."""
    from pathlib import Path

    from automl_nas.errors import RunError

    if result["status"] == "finished":
        return
    failed = [t for t in result["trials"] if t["status"] != "finished"]
    first = failed[0]
    error = RunError(f"{result['run_dir']}: {len(failed)} of {len(result['trials'])} seed trials did not finish "
                     f"(seed {first['seed']}: {first['status']}: {first.get('error') or 'no error recorded'})",
                     hint=f"each trial's attempts are in {Path(result['run_dir']) / 'attempts'}. A failure of the "
                          f"search itself (a non-finite loss, an option the recipe got wrong) repeats on resume, "
                          f"which reruns the same steps: start a new batch with the changed recipe (a new --run-dir). "
                          f"One of the machine (memory, a lost worker, a full disk) does not: once it is mended, "
                          f"`automl run --resume {result['run_dir']}` keeps the finished trials and runs the others")
    error.result = result
    raise error


def _reports() -> bool:
    # Under torchrun only rank 0 prints the summary: one JSON document on stdout, not one per rank.
    return int(os.environ.get("WORLD_SIZE", "1")) == 1 or os.environ.get("RANK", "0") == "0"


def _summary(result: dict) -> dict:
    keys = ("status", "genotype", "metrics", "eval_error", "eval_retry", "expected", "search_time_s", "run_dir", "error",
            "aggregate", "trials")
    return {k: result[k] for k in keys if k in result}


def _unselected_options_emptied(recipe: str, profile: str | None, overrides, trackers,
                                installed: list[str]) -> list[str]:
    """``--tracker`` replaces run.trackers, so the recipe's options for trackers it no longer
    selects are emptied (they were refused as options for an unselected tracker, and switching
    trackers meant editing the recipe, one whose tracker is not installed here too); an empty
    table asks for nothing. A table whose name is a near miss of an installed tracker's
    (``tensorbord``) stays, for the recipe check to refuse: its options were dropped in silence."""
    import difflib

    from automl_nas.recipe import load_overridden

    run = load_overridden(recipe, profile=profile, overrides=overrides).get("run")
    options = run.get("tracker_options") if isinstance(run, dict) else None
    names = set(options) if isinstance(options, dict) else set()  # a malformed table is the recipe check's to name
    misspelt = {n for n in names if n not in installed and difflib.get_close_matches(n, installed, n=1, cutoff=0.8)}
    return [f"run.tracker_options.{json.dumps(name)}={{}}" for name in sorted(names - set(trackers) - misspelt)]
