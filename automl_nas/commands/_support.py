"""What every command module shares: the error-to-exit-code decorator and the session.

Commands import this module, never ``automl_nas.cli`` (the group imports the commands).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

from automl_nas.errors import AutomlError

if TYPE_CHECKING:
    from automl_nas.session import Session

__all__ = ["command_session", "handle_errors", "reading_records", "summary_even_if_stopped", "work_off_stdout"]


def _report(exc: AutomlError) -> None:
    if os.environ.get("AUTOML_NAS_DEBUG") and exc.__cause__ is not None:  # a plugin's bug, wrapped: where it was
        import traceback

        traceback.print_exception(exc.__cause__, file=sys.stderr)
    click.echo(f"{_speaker()}: {exc.title}: {exc}", err=True)


def _speaker() -> str:
    """``automl``, or ``automl (rank 1)`` from a process other than rank 0 of a torchrun search:
    every rank reports its own end, and rank 0's is the run's."""
    rank = os.environ.get("RANK", "0")
    return f"automl (rank {rank})" if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and rank not in ("", "0") \
        else "automl"


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The one error boundary: an :class:`~automl_nas.errors.AutomlError` becomes a paragraph on
    stderr and its exit code (see ``automl_nas.cli`` for the table); Ctrl-C exits 130; any other
    exception is an internal error (exit 1) reported in one paragraph, its traceback only with
    ``AUTOML_NAS_DEBUG=1``. click's own usage errors pass through to click."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AutomlError as exc:
            _report(exc)
            sys.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo(f"{_speaker()}: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the boundary: nothing leaves as a bare traceback
            if isinstance(exc, BrokenPipeError) and _stdout_closed():
                # The reader of our output went away (`automl plugins | head`): end quietly, as a
                # shell tool killed by SIGPIPE would (128 + 13), with Python's exit flush kept off
                # the pipe. A plugin's own broken pipe or socket is an error like any other.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(141)
            if os.environ.get("AUTOML_NAS_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(f"{_speaker()}: internal error: {type(exc).__name__}: {first}\n  fix: this is a bug in automl-nas or "
                       f"a plugin; rerun with AUTOML_NAS_DEBUG=1 for the traceback and report it", err=True)
            sys.exit(1)

    return wrapper


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader is gone (poll reports an error on its write end)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or no real stdout
        return False


def nonempty_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A path option given as ``""`` (often an unset shell variable) named the current directory,
    and a run was written straight into it: refused."""
    del ctx
    if value is not None and not str(value).strip():
        raise click.BadParameter(f"{param.opts[0]} is empty (an unset shell variable?): give a path, or leave "
                                 f"{param.opts[0]} out")
    return value


def command_session(show_load_errors: bool = True) -> Session:
    """The command's :class:`~automl_nas.session.Session`; plugin load errors are warned about once."""
    from automl_nas.session import open_session

    session = open_session()
    if show_load_errors:
        for err in session.load_errors:
            click.echo(f"automl: warning: {err}", err=True)
    return session


def work_off_stdout():
    """While a command works, whatever it prints to stdout (a plugin's ``print``, Ray's worker and
    raylet lines) goes to stderr: stdout carries the command's JSON summary alone, which it
    prints after this block."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr)


@contextlib.contextmanager
def reading_records(target: str) -> Iterator[None]:
    """``show`` and ``plot`` read records a user may have edited or a disk damaged (a value of
    the wrong type, a table where a number was): one paragraph naming the target, not an
    internal error."""
    from automl_nas.errors import RunError, one_line

    try:
        yield
    except AutomlError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, OSError) as exc:
        if os.environ.get("AUTOML_NAS_DEBUG"):
            raise
        raise RunError(f"{target}: its records could not be read ({one_line(exc)}); a file there was "
                       f"edited or damaged (or this is a bug: AUTOML_NAS_DEBUG=1 shows where)",
                       hint=f"`automl show {target} --json` prints the records as they are; repair or move aside the "
                            f"damaged file") from None


def refuse_under_torchrun(what: str) -> None:
    """Under torchrun every process is one rank of a single search (issue 15). A command that
    starts trials of its own would start them in every rank: each rank made its own batch or
    study, they raced for one ``--run-dir``, or waited on each other's collectives forever."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1:
        from automl_nas.errors import RecipeError

        raise RecipeError(f"{what} under torchrun (WORLD_SIZE={size}): each process torchrun starts is one rank of one "
                          f"search, and {what} would start its own trials in every one of them",
                          hint="run it without torchrun; for trials that are each a data-parallel search, set "
                               "`[executor] ranks = N` (--set executor.ranks=N): every trial then launches its N ranks")


@contextlib.contextmanager
def summary_even_if_stopped(shape: Callable[[dict], dict] = dict, *, when: bool = True) -> Iterator[None]:
    """A run, search or study that ends interrupted or failed still prints what it holds: the
    error's ``result`` (``shape``d) goes to stdout as JSON before the error goes on to its
    paragraph and exit code. ``when`` is False where another process prints the summary
    (torchrun ranks > 0)."""
    try:
        yield
    except AutomlError as exc:
        if exc.result is not None and when:
            from automl_nas.records.strict_json import dumps

            click.echo(dumps(shape(exc.result), indent=2))
        raise
