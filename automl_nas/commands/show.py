"""``automl show``: summarise a run directory, a seed batch or a study directory."""

from __future__ import annotations

from pathlib import Path

import click

from automl_nas.commands._support import handle_errors, reading_records

__all__ = ["show"]


@click.command("show")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--epochs", "show_epochs", is_flag=True, help="Print every epoch record (of every trial, for a batch or a study).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def show(run_dir, show_epochs, as_json) -> None:
    """Summarise a run directory, a seed batch (--seeds) or a study directory.

    A batch or a study gets one row per trial, mean ± std of the finished trials, the best
    trial and the plots and reports to open (`automl plot DIR` draws the figures).
    """
    from automl_nas.records.layout import target_kind
    from automl_nas.records.strict_json import dumps as strict_json_dumps

    path = Path(run_dir)
    with reading_records(run_dir):
        if target_kind(path) == "run":
            from automl_nas.records.show import render, run_json

            out = run_json(path, show_epochs) if as_json else render(path, all_epochs=show_epochs)
        else:
            from automl_nas.records.overview import overview
            from automl_nas.records.show import member_epoch_lines, member_epochs_json

            summary = overview(path)
            out = summary.to_json() if as_json else summary.render()
            if show_epochs:  # each trial's records, as for a run
                if as_json:
                    out["epochs"] = member_epochs_json(summary.rows)
                else:
                    out = "\n".join([out, *member_epoch_lines(summary.rows)])
    click.echo(strict_json_dumps(out, indent=2) if as_json else out)
