"""One tree of user-facing errors, each mapped to a process exit code.

Only ``automl_nas.cli`` turns these into a paragraph on stderr and an exit code;
everything else raises them with a message that names the place (file, dotted
key, component, step) and the fix.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Iterable, Iterator


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'epochs'?"`` for the closest of ``choices``, or ``""`` (the suffix every
    unknown-name message shares)."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def missing_file(path: str | os.PathLike) -> str:
    """``"PATH does not exist"``, and for a relative path where it was looked for and how to point
    at it (the first clause of a message: ``f"{component}: {missing_file(path)}"``).

    A recipe's relative paths start at the directory ``automl`` runs in, not at the recipe's:
    that directory is what a Ray cluster receives, so a path that works here works on every node.
    Run from elsewhere, a file lying next to the recipe is "missing"; the message says where
    it was looked for."""
    from pathlib import Path

    text = os.fspath(path)
    if Path(text).expanduser().is_absolute():
        return f"{text} does not exist"
    return (f"{text} does not exist in the working directory {os.getcwd()} (a recipe's relative paths start "
            f"where automl runs, which is also what a Ray cluster receives: run automl from the directory the "
            f"path starts at, or give an absolute path)")


class AutomlError(Exception):
    """Base class of every error automl-nas reports to a user."""

    exit_code = 1
    title = "error"
    #: ``result.json`` of the run that ended with this error, when there was one
    result: dict | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  fix: {self.hint}"


class RecipeError(AutomlError):
    """A recipe (or an override) is malformed, mistyped or names an unknown plugin."""

    exit_code = 2
    title = "recipe error"


class PluginError(AutomlError):
    """A plugin failed to load, clashed with another, or raised inside a hook."""

    exit_code = 3
    title = "plugin error"

    def __init__(self, message: str, *, plugin: str | None = None, dist: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.plugin = plugin
        self.dist = dist


class DataError(AutomlError):
    """A data set is missing, truncated or has the wrong shape."""

    exit_code = 4
    title = "data error"


class RunError(AutomlError):
    """A run failed: numerical fault, unwritable run directory, bad resume target."""

    exit_code = 5
    title = "run error"


class Interrupted(AutomlError):
    """The run was stopped by SIGINT/SIGTERM after writing a checkpoint."""

    exit_code = 130
    title = "interrupted"


def one_line(exc: BaseException) -> str:
    """The exception's type and first message line, for compact reports."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's out-of-memory error (CUDA), the MPS and CPU allocators' RuntimeErrors, Python's
    MemoryError: the machine's limit reached, not a bug of the code that asked for the memory."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # no tensor was ever allocated without it
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)


def _memory_words(exc: BaseException) -> str:
    """The first sentences of an out-of-memory message (how much was asked, what was free):
    torch's CUDA message runs on for a paragraph."""
    said = " ".join(str(exc).split())
    return ". ".join(said.split(". ")[:3]).rstrip(".") or type(exc).__name__


@contextlib.contextmanager
def out_of_memory_as(error: Callable[[str], AutomlError]) -> Iterator[None]:
    """Around work that may need more memory than the machine has: running out becomes
    ``error(torch's first sentences)``, the caller's words and fix; anything else passes unchanged."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are reworded
        if not is_out_of_memory(exc):
            raise
        raise error(_memory_words(exc)) from None


def plugin_failure(exc: BaseException, *, subject: str, plugin: str | None, dist: str | None, action: str,
                   hint: str) -> PluginError:
    """The one shape of a plugin's unexpected exception as a user-facing error:
    ``"<subject> from plugin 'p' (dist) <action>: <Type>: <first line>"`` plus the fix."""
    return PluginError(f"{subject} from plugin {plugin!r} ({dist}) {action}: {one_line(exc)}",
                       plugin=plugin, dist=dist, hint=hint)


def interface_breach(component: Any, problem: str, *, hint: str) -> PluginError:
    """A component that returned what its interface does not allow, in :func:`plugin_failure`'s
    shape: ``"<kind> 'name' from plugin 'p' (dist): <problem>"`` plus the fix (``component`` is
    its :class:`~automl_nas.registry.Component`)."""
    return PluginError(f"{component.kind.replace('_', ' ')} {component.name!r} from plugin {component.plugin!r} "
                       f"({component.dist}): {problem}", plugin=component.plugin, dist=component.dist, hint=hint)


@contextlib.contextmanager
def plugin_call(*, subject: str, plugin: str | None, dist: str | None, action: str, hint: str) -> Iterator[None]:
    """Run plugin code; an :class:`AutomlError` passes through, and so does running out of memory
    (:func:`is_out_of_memory`: the caller says what needed it); anything else becomes
    :func:`plugin_failure` (wrapped once, here, at the call site)."""
    try:
        yield
    except AutomlError:
        raise
    except Exception as exc:  # noqa: BLE001 - this is the one place plugin exceptions are wrapped
        if is_out_of_memory(exc):
            raise
        raise plugin_failure(exc, subject=subject, plugin=plugin, dist=dist, action=action, hint=hint) from exc
