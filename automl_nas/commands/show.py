"""``automl show``: summarise a run directory."""

from __future__ import annotations

from pathlib import Path

import click

from automl_nas.commands._support import handle_errors

__all__ = ["show"]


@click.command("show")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--epochs", "show_epochs", is_flag=True, help="Print every epoch record.")
@handle_errors
def show(run_dir, show_epochs) -> None:
    """Summarise a finished or interrupted run directory."""
    from automl_nas.records.show import render

    click.echo(render(Path(run_dir), all_epochs=show_epochs))
