"""``automl eval``: score one genotype with an evaluator (table lookup, proxy, retraining).

Imported whenever the ``automl`` command starts, so torch is imported only inside the command.
"""

from __future__ import annotations

import json

import click

from automl_nas.commands._support import handle_errors, nonempty_path

__all__ = ["eval_cmd"]


@click.command("eval")
@click.argument("target")
@click.option("--evaluator", "-e", metavar="NAME", help="Evaluator to use (default: the run's or the recipe's).")
@click.option("--space", metavar="NAME", help="Search space of a genotype string (default: recognised from the text).")
@click.option("--data", metavar="NAME|TABLE", help="Data set, e.g. digits or '{name=\"npz\", path=\"x.npz\", test_fraction=0.2}'.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the evaluation recipe (evaluator.epochs=2, space.KEY=VALUE of the evaluated network, seed=1, run.device=cpu); "
                   "a bare evaluator option is short for evaluator.KEY (epochs=2).")
@click.option("--profile", "-p", help="Apply [profile.NAME] of a recipe file (retrain.toml has `quick`).")
@click.option("--out", type=click.Path(dir_okay=False), callback=nonempty_path, help="Write the metrics JSON here (default: <work dir>/eval-<evaluator>.json, or -2, -3, ... when another evaluation holds it).")
@click.option("--work-dir", type=click.Path(file_okay=False), callback=nonempty_path,
              help="Directory for checkpoints and the JSON (default: the run directory, else run.root/eval-<name>).")
@click.option("--check", is_flag=True, help="Only check the target, names, options and that the evaluator can take the space and data (the data is read as "
                   "the evaluation reads it; nothing is trained or written).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines; the metrics are still printed.")
@handle_errors
def eval_cmd(target, evaluator, space, data, overrides, profile, out, work_dir, check, quiet) -> None:
    """Evaluate TARGET: a run directory, an evaluation recipe (.toml, e.g. `automl export`'s
    retrain.toml) or a genotype string. Prints the metrics as JSON and writes them to a file.

    A retraining (`--evaluator retrain`) checkpoints every epoch in the work directory; the same
    command again resumes it.

    \b
    Examples:
      automl eval runs/snas-20260101-120000 --evaluator retrain
      automl eval '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|' \\
          -e nb201-table                      # after `automl bench import nb201 FILE` (or --set path=TABLE.csv)
      automl eval exported/retrain.toml --profile quick
      automl eval runs/gdas-20260101-120000 -e retrain --set epochs=10 --set run.device=cuda
    """
    from automl_nas.commands._support import command_session
    from automl_nas.records.strict_json import dumps as strict_json_dumps
    from automl_nas.standalone.target import apply_flags, plan_target, raw_target, refuse_supernet_only

    if not target.strip():  # '' named the working directory, "not a run directory"
        raise click.UsageError("TARGET is empty: give a run directory, an evaluation recipe (.toml) or a genotype string")
    session = command_session()

    pm, registry = session.pm, session.registry
    raw, source = raw_target(target, profile=profile)
    if work_dir:
        overrides = (*overrides, f"run.dir={json.dumps(str(work_dir))}")
    apply_flags(raw, source=source, evaluator=evaluator, space=space, data=data, overrides=overrides)
    plan = plan_target(raw, source, registry=registry, pm=pm)
    refuse_supernet_only(plan, overrides)
    from automl_nas.preflight import preflight

    preflight(plan)  # table installed / data present, before a retraining starts
    if check:
        _check(plan, registry)
        return
    from automl_nas.standalone.evaluate import run_eval

    from automl_nas.interrupts import sigterm_as_ctrl_c

    log = (lambda _line: None) if quiet else (lambda line: click.echo(line, err=True))
    before = _checkpoints(plan.work_dir)
    try:
        with sigterm_as_ctrl_c():
            result = run_eval(plan, registry, out=out, log=log)
    except KeyboardInterrupt:
        from automl_nas.errors import Interrupted

        after = _checkpoints(plan.work_dir)
        if any(before.get(path) != stamp for path, stamp in after.items()):  # this evaluation wrote one
            said, fix = (f"stopped; evaluator checkpoints (a retraining's finished epochs) are kept in {plan.work_dir}",
                         "run the same command again to resume")
        elif after:  # its own from an earlier stop, or another evaluation's: the host cannot tell which
            said, fix = (f"stopped before this evaluation wrote a checkpoint; the earlier checkpoints in {plan.work_dir} "
                         f"are kept", "run the same command again: it resumes from its own checkpoint if it has one")
        else:
            said, fix = ("stopped before a first checkpoint (a retraining's first epoch): nothing was kept",
                         "run the same command again to start it")
        raise Interrupted(said, hint=fix) from None
    click.echo(strict_json_dumps(result, indent=2))


def _checkpoints(work_dir) -> dict:
    """``{checkpoint file: modification time}`` of the evaluators' checkpoints (``*.pt``) under the
    work directory; in a run directory, not the search's own (``checkpoints/``), which made a stop
    before the first epoch say a retraining's epochs were kept."""
    from automl_nas.records.rundir import RunDir

    if not work_dir.is_dir():
        return {}
    search = RunDir(work_dir).checkpoint_file.parent if (work_dir / "recipe.toml").is_file() else None
    try:
        return {p: p.stat().st_mtime_ns for p in work_dir.rglob("*.pt") if search is None or search not in p.parents}
    except OSError:
        return {}


def _check(plan, registry) -> None:
    from automl_nas.evaluation import check_fit
    from automl_nas.standalone.evaluate import build_genotype

    space = plan.space.build(registry)
    genotype = build_genotype(space, plan.recipe.genotype, plan.source)
    # what the evaluation refuses before its first step (no data for a retraining, a network
    # option the space refuses) is refused here too; --check said ok to them
    evaluator = plan.evaluator.build(registry)
    if plan.dataset is None or _present(plan.dataset):
        loaded = plan.dataset.build(registry).load() if plan.dataset is not None else None
        check_fit(plan.evaluator.component, evaluator, space, loaded, where=f"{plan.source}: evaluator")
        fit = ""
    else:  # --check downloads nothing: the evaluator's checks of its options still run, without data
        from automl_nas.errors import DataError

        try:
            check_fit(plan.evaluator.component, evaluator, space, None, where=f"{plan.source}: evaluator")
        except DataError:  # it needs the data, which is not there yet
            pass
        fit = f"; {plan.dataset.component.name} is not downloaded yet, so whether the evaluator takes it is checked when the evaluation starts"
    data = plan.dataset.component.name if plan.dataset else "none"
    click.echo(f"{plan.source}: ok ({plan.evaluator.component.name} of {space.name} genotype {genotype.text}; "
               f"data {data}; work dir {plan.work_dir}{fit})")


def _present(dataset) -> bool:
    """Whether the data set can be read without a download: a config that would download passes
    its preflight with ``download = false`` too."""
    import attrs

    from automl_nas.errors import AutomlError
    from automl_nas.preflight import preflight_config

    config = dataset.config
    if not (attrs.has(type(config)) and getattr(config, "download", False) is True):
        return True
    try:
        preflight_config(attrs.evolve(config, download=False), dataset.component.name, where="data")
    except AutomlError:
        return False
    return True
