"""``automl export``: a genotype as files another program can use (TorchScript, ONNX) and retrain.

Imported whenever the ``automl`` command starts, so torch is imported only inside the command.
"""

from __future__ import annotations

import click

from automl_nas.commands._support import handle_errors, nonempty_path

__all__ = ["export"]


@click.command("export")
@click.argument("target")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), callback=nonempty_path, help="Directory to write the files into.")
@click.option("--space", metavar="NAME", help="Search space of a genotype string (default: recognised from the text).")
@click.option("--data", metavar="NAME|TABLE", help="Data set for retrain.toml (and the image shape); default: the run's, else cifar10.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the evaluation recipe; a bare key is a space option (channels=8 = space.channels=8).")
@click.option("--input", "input_shape", metavar="CxHxW", help="Image shape of the exported network (default: the data set's, else 3x32x32).")
@click.option("--classes", type=click.IntRange(min=1), help="Number of classes (default: the data set's, else 10).")
@click.option("--weights", type=click.Path(dir_okay=False, exists=True),
              help="Trained weights: a retraining checkpoint (<work dir>/retrain/<key>/last.pt) or a state_dict file.")
@click.option("--onnx-exporter", type=click.Choice(["dynamo", "legacy"]), default="dynamo", show_default=True,
              help="torch.onnx exporter: dynamo (torch.export-based, the default since torch 2.9) or legacy (TorchScript-based, deprecated).")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines; the record is still printed.")
@handle_errors
def export(target, out_dir, space, data, overrides, input_shape, classes, weights, onnx_exporter, quiet) -> None:
    """Export TARGET (a run directory, a genotype string or an evaluation recipe) into --out DIR:

    \b
      genotype.json   space, genotype text, space options, source run, costs, checks
      model.pt        the standalone network, TorchScript (eval mode)
      model.onnx      the same network, ONNX (input 1xCxHxW, dynamic batch axis)
      retrain.toml    a recipe that retrains the genotype: automl eval DIR/retrain.toml

    \b
    Examples:
      automl export runs/snas-20260101-120000 --out exported/snas
      automl export "$(cat genotype.txt)" --space darts --out exported/cell --input 3x32x32
      automl export runs/gdas-x --out exported/gdas --weights runs/gdas-x/retrain/<key>/last.pt
    """
    from automl_nas.commands._support import command_session
    from automl_nas.records.strict_json import dumps as strict_json_dumps
    from automl_nas.standalone.export import export_plan, parse_input_shape
    from automl_nas.standalone.retrain_toml import RETRAIN_EVALUATOR
    from automl_nas.standalone.target import apply_flags, plan_target, raw_target, refuse_supernet_only

    shape = parse_input_shape(input_shape) if input_shape else None
    session = command_session()
    pm, registry = session.pm, session.registry
    raw, source = raw_target(target)
    apply_flags(raw, source=source, space=space, data=data, overrides=overrides, bare_key_table="space")
    evaluator = raw.get("evaluator")
    if (evaluator if isinstance(evaluator, str) else (evaluator or {}).get("name")) != RETRAIN_EVALUATOR:
        raw["evaluator"] = {"name": RETRAIN_EVALUATOR}  # what retrain.toml will name
    # Exporting needs no evaluator: retrain.toml names one that may be installed later.
    plan = plan_target(raw, source, registry=registry, pm=pm, resolve_evaluator=False)
    refuse_supernet_only(plan, overrides, bare_key_table="space")
    log = (lambda _line: None) if quiet else (lambda line: click.echo(line, err=True))
    from automl_nas.errors import Interrupted
    from automl_nas.interrupts import sigterm_as_ctrl_c

    try:
        with sigterm_as_ctrl_c():
            record = export_plan(plan, registry, out_dir, input_shape=shape, num_classes=classes, weights=weights,
                                 onnx_exporter=onnx_exporter, log=log)
    except KeyboardInterrupt:  # the files are written one by one: some may be there, genotype.json is not
        raise Interrupted(f"export stopped; {out_dir} may hold some of its files but not all (genotype.json is "
                          f"written last)", hint="run the same command again: it completes the export") from None
    click.echo(strict_json_dumps({"out": out_dir, **record}, indent=2))
