"""Firing lifecycle hooks from the engine: a plugin that raises is named, not hidden."""

from __future__ import annotations

from typing import Any

from automl_nas.errors import plugin_call


class HookRelay:
    """The engine's handle on the plugin manager's lifecycle hooks."""

    def __init__(self, pm: Any) -> None:
        self.pm = pm

    def call(self, name: str, **kwargs: Any) -> None:
        """Fire hook ``name`` with ``kwargs`` (``run`` always among them)."""
        epoch = kwargs["epoch"] if "epoch" in kwargs else kwargs["run"].epoch
        hook = getattr(self.pm.hook, name)
        try:
            hook(**kwargs)
        except Exception as exc:  # noqa: BLE001 - named below through the one wrapper
            plugin = _culprit(self.pm, name, exc)
            with plugin_call(subject=f"hook {name} at epoch {epoch}", plugin=plugin, dist=self.pm.dist_of(plugin),
                             action="raised",
                             hint=f"fix the plugin or block it with AUTOML_NAS_DISABLE_PLUGINS={plugin}"):
                raise


def _culprit(pm: Any, hook_name: str, exc: BaseException) -> str:
    """The plugin whose hook implementation appears in the traceback."""
    tb = exc.__traceback__
    files = set()
    while tb is not None:
        files.add(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        if impl.function.__code__.co_filename in files:
            return pm.get_name(impl.plugin) or "?"
    return "?"
