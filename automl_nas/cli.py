"""The ``automl`` command group. Each command lives in its own module under
``automl_nas.commands`` (or ``automl_nas.study.cli``) and imports nothing from here; this
module only imports them and adds them to the group.

Exit codes (``automl_nas.commands._support.handle_errors`` maps the error tree to them):
0 ok, 1 unexpected error, 2 recipe error, 3 plugin error, 4 data error, 5 run failed
(numerical fault, unwritable directory), 130 interrupted (checkpoint written; resume
with ``--resume``), 141 the reader of stdout went away (``automl plugins | head``), silently.
"""

from __future__ import annotations

import click

from automl_nas.commands.bench import bench
from automl_nas.commands.evaluate import eval_cmd
from automl_nas.commands.export import export
from automl_nas.commands.plot import plot
from automl_nas.commands.plugins import plugins
from automl_nas.commands.profile_ops import profile_ops
from automl_nas.commands.run import run
from automl_nas.commands.show import show
from automl_nas.commands.validate import validate
from automl_nas.study.cli import blackbox, study

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl-nas")
def main() -> None:
    """automl-nas: plugin-based neural architecture search.

    Typical use: `automl run recipes/snas.toml --profile quick` runs a short real
    search; `automl show runs/<run>` summarises it; `automl plugins` lists what is
    installed. Each command has its own --help.
    """
    import warnings

    # A failing tracker is reported once, by its log line; Python's copy (file:line, source) doubled it.
    warnings.filterwarnings("ignore", module=r"automl_nas\.tracking\.")


for _command in (run, validate, plugins, show, plot, study, blackbox, eval_cmd, export, profile_ops, bench):
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
