"""What every command module shares: the error-to-exit-code decorator and the session.

Commands import this module, never ``automl_nas.cli`` (the group imports the commands).
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

from automl_nas.errors import AutomlError

if TYPE_CHECKING:
    from automl_nas.session import Session

__all__ = ["command_session", "handle_errors"]


def _report(exc: AutomlError) -> None:
    click.echo(f"automl: {exc.title}: {exc}", err=True)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The only place an :class:`~automl_nas.errors.AutomlError` becomes a paragraph on
    stderr and its exit code (see ``automl_nas.cli`` for the table)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AutomlError as exc:
            _report(exc)
            sys.exit(exc.exit_code)

    return wrapper


def command_session(show_load_errors: bool = True) -> Session:
    """The command's :class:`~automl_nas.session.Session`; plugin load errors are warned about once."""
    from automl_nas.session import open_session

    session = open_session()
    if show_load_errors:
        for err in session.load_errors:
            click.echo(f"automl: warning: {err}", err=True)
    return session
