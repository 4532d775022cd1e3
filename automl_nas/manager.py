"""Build a fresh plugin manager: specs, built-ins, then entry-point plugins.

Discovery tolerates faults: a plugin whose import raises, or that implements an
unknown hook, is recorded as a :class:`~automl_nas.errors.PluginError` naming
the plugin and its distribution, and every other plugin still loads.

Environment:
    AUTOML_NAS_DISABLE_PLUGINS=a,b   block plugins by entry-point name
    AUTOML_NAS_STRICT_PLUGINS=1      make load errors fatal (for plugin authors)
    AUTOML_NAS_TRACE_HOOKS=1         print every hook call to stderr
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Iterable

import pluggy

import automl_nas.hookspecs as hookspecs
from automl_nas.errors import PluginError, one_line
from automl_nas.registry import BUILT_IN_DIST, Component, Registry

BUILTIN_PLUGINS = ("automl_nas.builtin.objectives",)

CONTRIBUTION_HOOKS = {
    "automl_register_search_spaces": "search_space",
    "automl_register_samplers": "sampler",
    "automl_register_proposers": "proposer",
    "automl_register_objectives": "objective",
    "automl_register_evaluators": "evaluator",
    "automl_register_datasets": "dataset",
    "automl_register_benchmarks": "benchmark",
    "automl_register_trackers": "tracker",
}


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the load errors and distribution of each plugin."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.load_errors: list[PluginError] = []
        self.dists: dict[str, str] = {}
        #: plugin name -> heavy modules (torch) that importing its entry point imported
        self.heavy_imports: dict[str, list[str]] = {}
        #: plugin name -> distribution of each installed plugin AUTOML_NAS_DISABLE_PLUGINS blocked
        self.disabled: dict[str, str] = {}
        #: every load or registration error is fatal (AUTOML_NAS_STRICT_PLUGINS)
        self.strict = False

    def dist_of(self, name: str) -> str:
        if self.is_blocked(name):
            return "disabled by AUTOML_NAS_DISABLE_PLUGINS"
        return self.dists.get(name, BUILT_IN_DIST)


#: Modules a plugin's entry point (its hooks module) must not import: they take seconds.
HEAVY_MODULES = ("torch",)


def get_plugin_manager(
    *,
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    disabled: Iterable[str] | None = None,
    strict: bool | None = None,
    extra_plugins: Iterable[tuple[object, str]] = (),
) -> PluginManager:
    """A new manager with the specs, the built-ins and every discovered plugin.

    Args:
        entry_points: override discovery (tests pass fakes); default: the
            ``automl_nas`` entry-point group of the installed distributions.
        disabled: plugin names to block; default from ``AUTOML_NAS_DISABLE_PLUGINS``.
        strict: raise on the first load error; default from ``AUTOML_NAS_STRICT_PLUGINS``.
        extra_plugins: ``(plugin, name)`` pairs registered after discovery
            (throwaway plugins in tests).
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    if disabled is None:
        disabled = [n for n in os.environ.get("AUTOML_NAS_DISABLE_PLUGINS", "").split(",") if n.strip()]
    if strict is None:
        strict = os.environ.get("AUTOML_NAS_STRICT_PLUGINS", "") not in ("", "0")
    pm.strict = strict
    for name in disabled:
        pm.set_blocked(name.strip())
    import importlib

    for module_name in BUILTIN_PLUGINS:
        if not pm.is_blocked(module_name.rsplit(".", 1)[-1]):
            pm.register(importlib.import_module(module_name), name=module_name.rsplit(".", 1)[-1])
    if entry_points is None:
        entry_points = metadata.entry_points(group=hookspecs.PROJECT)
    entry_points = list(entry_points)
    clashing, reported = _claimed_by_several(pm, entry_points), set()
    for ep in entry_points:
        if ep.name in clashing:  # none of them loads; reported once
            if ep.name not in reported:
                pm.load_errors.append(_clash(ep.name, sorted({_dist_label(e) for e in entry_points if e.name == ep.name})))
                reported.add(ep.name)
            continue
        _load_entry_point(pm, ep)
    unknown = sorted(n.strip() for n in disabled if n.strip() and n.strip() not in pm.disabled
                     and n.strip() not in {m.rsplit(".", 1)[-1] for m in BUILTIN_PLUGINS})
    if unknown:  # a misspelt name blocks nothing, and the plugin it meant still loads
        pm.load_errors.append(PluginError(
            f"AUTOML_NAS_DISABLE_PLUGINS names {', '.join(map(repr, unknown))}, which no installed plugin is called",
            hint="use the names `automl plugins` lists (the entry-point names), separated by commas"))
    for plugin, name in extra_plugins:
        _register_checked(pm, plugin, name, "test plugin")
    if strict and pm.load_errors:
        raise pm.load_errors[0]
    if os.environ.get("AUTOML_NAS_TRACE_HOOKS", "") not in ("", "0"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _dist_label(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"


def _claimed_by_several(pm: PluginManager, entry_points: list[metadata.EntryPoint]) -> set[str]:
    """The entry-point names two or more distributions claim (a built-in's name is the built-in's:
    the others are refused one by one). Which of them loaded depended on the order Python found
    them, so a reinstall could swap the implementation a recipe ran; none of them loads."""
    labels: dict[str, set[str]] = {}
    for ep in entry_points:
        if not pm.is_blocked(ep.name) and not pm.has_plugin(ep.name):
            labels.setdefault(ep.name, set()).add(_dist_label(ep))
    return {name for name, dists in labels.items() if len(dists) > 1}


def _clash(name: str, labels: list[str]) -> PluginError:
    return PluginError(
        f"plugin {name!r} is not loaded: the entry-point name {name!r} is claimed by {' and '.join(labels)}, so which "
        f"would load would depend on the order Python finds them",
        plugin=name, dist=", ".join(labels),
        hint="uninstall all but one of them, or rename the entry point in the [project.entry-points.automl_nas] of "
             "the one you maintain (it names the plugin, so it must be unique)")


def _load_entry_point(pm: PluginManager, ep: metadata.EntryPoint) -> None:
    if pm.is_blocked(ep.name):
        pm.disabled[ep.name] = _dist_label(ep)
        return
    label = _dist_label(ep)
    if pm.has_plugin(ep.name):  # pluggy keys plugins by this name: the second one would vanish without a word
        if pm.dists.get(ep.name) == label:  # the same distribution seen twice on sys.path
            return
        pm.load_errors.append(
            PluginError(
                f"plugin {ep.name!r} from {label} is not loaded: the entry-point name {ep.name!r} is already taken "
                f"by {pm.dist_of(ep.name)}",
                plugin=ep.name,
                dist=label,
                hint=f"uninstall one of the two, or rename the entry point in the [project.entry-points.automl_nas] "
                     f"of the one you maintain ({label} or {pm.dist_of(ep.name)}; it names the plugin, so it must be "
                     f"unique)",
            )
        )
        return
    absent = [m for m in HEAVY_MODULES if m not in sys.modules]
    try:
        plugin = ep.load()
        # Every command imports every plugin's hooks: one that imports torch there makes even
        # `automl validate` wait for it. Only the first such plugin is seen (torch stays imported).
        heavy = [m for m in absent if m in sys.modules]
        if heavy:
            pm.heavy_imports[ep.name] = heavy
    except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
        pm.load_errors.append(
            PluginError(
                f"plugin {ep.name!r} from {label} failed to import ({ep.value}): {one_line(exc)}",
                plugin=ep.name,
                dist=label,
                hint=f"reinstall or fix {label}, or block it with AUTOML_NAS_DISABLE_PLUGINS={ep.name}",
            )
        )
        return
    _register_checked(pm, plugin, ep.name, label)


def _register_checked(pm: PluginManager, plugin: object, name: str, label: str) -> None:
    try:
        pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        # pluggy's first line names the plugin and hook; the reason (unknown arguments) is on the next
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        pm.load_errors.append(
            PluginError(
                f"plugin {name!r} from {label} does not fit the automl_nas hook contract: {reason}"
                f"{_hook_suggestions(plugin)}",
                plugin=name,
                dist=label,
                hint="check the hook names and arguments against automl_nas/hookspecs.py",
            )
        )
        return
    pm.dists[name] = label


def _hook_suggestions(plugin: object) -> str:
    """``; did you mean 'automl_epoch_end' for 'automl_epoch_ends'?`` for misspelled hook names."""
    import difflib
    import inspect

    specs = [n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("automl_")]
    wrong = [n for n in dir(plugin) if n.startswith("automl_") and n not in specs]
    guesses = [(n, difflib.get_close_matches(n, specs, n=1)) for n in wrong]
    said = [f"{close[0]!r} for {n!r}" for n, close in guesses if close]
    return f"; did you mean {', '.join(said)}?" if said else ""


def build_registry(pm: PluginManager) -> Registry:
    """Collect every contribution hook into a :class:`Registry`.

    A plugin that raises inside a contribution hook is recorded as an error and
    skipped; the other plugins' components are still registered.
    """
    registry = Registry()
    registry.errors.extend(pm.load_errors)
    registry.disabled = dict(getattr(pm, "disabled", {}))
    for hook_name, kind in CONTRIBUTION_HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            name = pm.get_name(impl.plugin) or "?"
            dist = pm.dist_of(name)
            try:
                components = impl.function() or []
                if isinstance(components, Component) or not isinstance(components, (list, tuple)):
                    raise TypeError(f"returned {components!r}; a contribution hook returns a list of Component")
            except Exception as exc:  # noqa: BLE001
                registry.errors.append(
                    PluginError(
                        f"plugin {name!r} ({dist}) raised in {hook_name}: {one_line(exc)}",
                        plugin=name,
                        dist=dist,
                        hint=f"fix the plugin or block it with AUTOML_NAS_DISABLE_PLUGINS={name}",
                    )
                )
                continue
            for component in components:
                if not isinstance(component, Component) or component.kind != kind:
                    registry.errors.append(
                        PluginError(
                            f"plugin {name!r} ({dist}) returned {component!r} from {hook_name}; "
                            f"expected Component(kind={kind!r}, ...)",
                            plugin=name,
                            dist=dist,
                        )
                    )
                    continue
                problem = _config_problem(component.kind, component.config)
                if problem:
                    registry.errors.append(
                        PluginError(f"plugin {name!r} ({dist}): {component.kind} {component.name!r} has config="
                                    f"{component.config!r}, {problem}", plugin=name, dist=dist,
                                    hint="declare the options as an @attrs.frozen(kw_only=True) class, or config=None "
                                         "for a component without options"))
                    continue
                registry.add(_with_origin(component, name, dist))
    if pm.strict and registry.errors:
        raise registry.errors[0]
    return registry


def _config_problem(kind: str, config: object) -> str:
    """Why ``config`` cannot be a component's option class, or ``""``: the host structures recipe
    tables into it and lists its fields, both through attrs."""
    import attrs

    if config is None:
        return ""
    if not isinstance(config, type):
        return "which is not a class"
    if not attrs.has(config):
        return "which is not an attrs class (a dataclass or a plain class cannot be structured from a recipe)"
    if kind == "dataset":  # [data] mixes the host's keys with the data set's: the host's would win unseen
        from automl_nas.recipe.model import DataConfig

        host = {f.name for f in attrs.fields(DataConfig)} - {"name", "options"}
        taken = sorted(host & {f.name for f in attrs.fields(config)})
        if taken:
            return (f"whose option(s) {', '.join(taken)} are [data] keys the host reads itself, so a recipe could "
                    f"never set them: rename them")
    return ""


def _with_origin(component: Component, plugin: str, dist: str) -> Component:
    import attrs

    return attrs.evolve(component, plugin=plugin, dist=dist)
