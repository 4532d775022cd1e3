"""The error-to-exit-code wrapper for command modules that must not import ``automl_nas.cli``.

Same output as ``automl_nas.cli.handle_errors``: ``automl: <title>: <message>`` (with the
``fix:`` line) on stderr and the error's exit code.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from automl_nas.errors import AutomlError


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AutomlError as exc:
            click.echo(f"automl: {exc.title}: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper
