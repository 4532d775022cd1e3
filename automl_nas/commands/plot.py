"""``automl plot``: figures and a self-contained HTML page for a run, a seed batch or a study."""

from __future__ import annotations

import json

import attrs
import click

from automl_nas.commands._support import handle_errors, nonempty_path, reading_records

__all__ = ["plot"]


@click.command("plot")
@click.argument("target", type=click.Path(file_okay=False, exists=True))
@click.option("--out", type=click.Path(file_okay=False), callback=nonempty_path, help="Write here instead of TARGET/plots/.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@handle_errors
def plot(target, out, as_json) -> None:
    """Plot how the architecture evolved in TARGET (a run directory, a seed batch or a study).

    \b
    Writes PNGs (op probabilities per edge as heatmap and stacked area, accuracy with
    temperature, losses, entropy and skip fraction, evaluator scores; mean ± std across
    seeds for a batch; every trial for a study) and index.html, which embeds them and
    opens offline.

    \b
    Examples:
      automl plot runs/snas-20260101-120000
      automl plot runs/gdas-seeds-20260101-120000 --out figures/gdas
    """
    from automl_nas.plots import plot_target

    with reading_records(target):
        report = plot_target(target, out)
    if as_json:
        click.echo(json.dumps(attrs.asdict(report), indent=2))
        return
    click.echo(f"{report.kind} {report.target}: {len(report.files)} figures in {report.seconds:.1f} s")
    for path in report.files:
        click.echo(f"  {path}")
    click.echo(f"  {report.html}")
