"""Which of a run's components an unexpected exception came from.

The hot path calls samplers, objectives and spaces without a :func:`~automl_nas.errors.plugin_call`
around each call (a context manager per step is measurable at these step times), so a plugin's
bug reaches the run's boundary bare. There the traceback says whose code raised: the innermost
frame that belongs to one of the recipe's components names its plugin and distribution.
"""

from __future__ import annotations

from types import TracebackType
from typing import Iterable

from automl_nas.registry import Component

__all__ = ["blamed_component"]


def blamed_component(exc: BaseException, components: Iterable[Component]) -> Component | None:
    """The component whose code is the innermost of ``exc``'s traceback, or ``None`` when none
    of theirs is in it (the host's own fault).

    A frame belongs to a component when its module lies in the package of the component's
    ``impl``; the host's package (``automl_nas``) never counts, so a component the host itself
    contributes (the built-in objectives) is not blamed for the host's frames.
    """
    packages: dict[str, list[Component]] = {}
    for component in components:
        top = component.impl.partition(":")[0].split(".")[0]
        if top and top != "automl_nas":
            packages.setdefault(top, []).append(component)
    modules = list(reversed(_modules(exc.__traceback__)))  # innermost first
    for i, module in enumerate(modules):
        owners = packages.get(module.split(".")[0])
        if owners:
            # several components of one package: the one whose own module raised; else the innermost
            # of theirs that called into it (a shared helper module raised for the objective that
            # called it, not for the package's first component), else the first
            for caller in modules[i:]:
                if caller.split(".")[0] != module.split(".")[0]:
                    break
                named = next((c for c in owners if caller == c.impl.partition(":")[0]), None)
                if named is not None:
                    return named
            return owners[0]
    return None


def _modules(tb: TracebackType | None) -> list[str]:
    names = []
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    return names
