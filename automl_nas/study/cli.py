"""``automl study`` and ``automl search`` (black-box NAS); added to the CLI by ``automl_nas.cli``."""

from __future__ import annotations

import click

from automl_nas.commands._support import (
    command_session,
    handle_errors,
    nonempty_path,
    refuse_under_torchrun,
    summary_even_if_stopped,
    work_off_stdout,
)

__all__ = ["study", "blackbox"]


@click.command("study")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--profile", "-p", help="Apply [profile.NAME] of the recipe to every trial.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe key in every trial.")
@click.option("--trials", type=click.IntRange(min=1), help="Finished trials to reach (default: study.trials).")
@click.option("--storage", metavar="URL", help="Optuna storage: sqlite:///PATH, a database URL or journal:PATH (a journal file, for NFS and several "
                   "drivers; default: sqlite:///<study dir>/study.db).")
@click.option("--address", help="Ray cluster for parallel trials: auto or HOST:PORT of the head (default: RAY_ADDRESS).")
@click.option("--quiet", "-q", is_flag=True, help="Less output; the summary is still printed.")
@handle_errors
def study(recipe, profile, overrides, trials, storage, address, quiet) -> None:
    """Tune RECIPE's [study.params] with Optuna; rerunning the same command resumes the study.

    RECIPE is a search recipe with a [study] table: `metric` (a dotted path into each trial's
    result.json, e.g. metrics.cifar10) or `metrics` with `directions`, `trials`, `parallelism`,
    `sampler`, `pruner` with `intermediate`, and [study.params] (recipe key = its range);
    `automl plugins --options` does not list them: README.md, "Studies", does, and
    recipes/studies/ holds examples.

    \b
    Examples:
      automl study recipes/studies/gdas-temperature.toml -p quick --trials 20
      automl study recipes/studies/gdas-temperature.toml --storage postgresql://user@db/optuna
    """
    from automl_nas.records.strict_json import dumps as strict_json_dumps
    from automl_nas.study.driver import run_study

    refuse_under_torchrun("a study")
    with summary_even_if_stopped(), work_off_stdout():  # stdout: the JSON summary alone
        result = run_study(recipe, profile=profile, overrides=list(overrides), trials=trials, storage=storage,
                           address=address, quiet=quiet, session=command_session())
    click.echo(strict_json_dumps(result, indent=2))


@click.command("search")
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--profile", "-p", help="Apply [profile.NAME] of the recipe.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key, e.g. --set blackbox.queries=50.")
@click.option("--run-dir", type=click.Path(file_okay=False), callback=nonempty_path, help="Write here instead of run.root/<recipe>-blackbox-<time>.")
@click.option("--resume", type=click.Path(file_okay=False, exists=True),
              help="Continue the search in this run directory (no RECIPE: it holds its own).")
@click.option("--quiet", "-q", is_flag=True, help="No per-query output.")
@handle_errors
def blackbox(recipe, profile, overrides, run_dir, resume, quiet) -> None:
    """Black-box NAS: a proposer from [blackbox] queries the [evaluator] on the [space].

    \b
    Example recipe:
      [space]     name = "nb201"
      [evaluator] name = "nb201-table"   path = "nb201-test-accuracy.csv"
      [blackbox]  proposer = "rea"   queries = 100   metric = "cifar10"
    NAS-Bench-201's protocol (select by 12-epoch validation, report test, simulated time):
      [blackbox]  proposer = "rea"   queries = 0   seconds = 12000
                  metric = "cifar10_valid_12ep"   report = "cifar10"   cost = "cifar10_time_12ep"
    """
    from automl_nas.records.strict_json import dumps as strict_json_dumps
    from automl_nas.study.blackbox import run_blackbox_recipe

    if (recipe is None) == (resume is None) or (resume and (profile or overrides or run_dir)):
        raise click.UsageError("give a RECIPE, or --resume RUN_DIR alone (the run keeps its recipe, profile and --set)")
    refuse_under_torchrun("a black-box search")
    keys = ("status", "proposer", "metric", "best_genotype", "best_value", "report_metric", "best_report", "queries",
            "simulated_seconds", "exhausted", "run_dir")

    def summary(result: dict) -> dict:
        return {k: result[k] for k in keys if k in result}

    with summary_even_if_stopped(summary), work_off_stdout():  # stdout: the JSON summary alone
        result = run_blackbox_recipe(recipe, profile=profile, overrides=list(overrides), run_dir=run_dir,
                                     quiet=quiet, session=command_session(), resume=resume)
    click.echo(strict_json_dumps(summary(result), indent=2))
