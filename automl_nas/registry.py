"""Component descriptors and the registry that builds them by name.

A plugin's contribution hook returns :class:`Component` descriptors. The
:class:`Registry` keys them by ``(kind, name)``, reports clashes naming both
plugins, suggests close names for typos and builds components lazily: the
implementation (``"module:attr"``) is imported only in :meth:`Registry.create`.
"""

from __future__ import annotations

import fnmatch
import importlib
from typing import Any, Callable

import attrs

from automl_nas.errors import PluginError, RecipeError, did_you_mean, plugin_call

KINDS = (
    "search_space",
    "sampler",
    "proposer",
    "objective",
    "evaluator",
    "dataset",
    "benchmark",
    "tracker",
)


@attrs.frozen(kw_only=True)
class Component:
    """What a plugin contributes: a named, lazily built implementation.

    Args:
        kind: one of :data:`KINDS`.
        name: the name recipes use (``[search.sampler] name = "gdas"``).
        impl: ``"module:attr"``; ``attr(config)`` builds the component.
        config: an attrs class (``frozen=True, kw_only=True``) of the options,
            structured from the recipe table; ``None`` if there are none.
        summary: one line for ``automl plugins``.
        plugin: filled in by the host: the plugin that contributed it.
        dist: filled in by the host: ``"distribution version"``.

    Example:
        >>> Component(kind="sampler", name="toy", impl="toy.sampler:ToySampler")
        Component(kind='sampler', name='toy', ...)
    """

    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    name: str
    impl: str
    config: type | None = None
    summary: str = ""
    plugin: str = ""
    dist: str = ""

    def load(self) -> Callable[..., Any]:
        """Import and return the implementation factory."""
        module_name, _, attr = self.impl.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - reported with the plugin's name
            raise self._unloadable(f"could not be imported from {self.impl!r}: {type(exc).__name__}: {exc}") from exc
        if attr and not hasattr(module, attr):  # the plugin's own Component names it wrong: no reinstall mends that
            raise self._unloadable(f"names {self.impl!r}, but module {module_name!r} has no {attr!r}",
                                   hint="correct the Component's impl (\"module:Class\") in the plugin's hooks")
        return getattr(module, attr) if attr else module

    def check_findable(self) -> None:
        """Refuse an implementation module that is not installed, without importing it (which
        may import torch): ``automl validate`` finds what the run's first build would."""
        import importlib.util

        module_name = self.impl.partition(":")[0]
        try:
            found = importlib.util.find_spec(module_name) is not None
        except (ImportError, ValueError) as exc:  # a parent package is missing, or broken
            raise self._unloadable(f"has no implementation module {module_name!r} ({type(exc).__name__}: {exc})") from None
        if not found:
            raise self._unloadable(f"has no implementation module {module_name!r} (named by {self.impl!r})")

    def _unloadable(self, what: str, hint: str = "") -> PluginError:
        return PluginError(f"{self.kind} {self.name!r} from plugin {self.plugin!r} ({self.dist or 'unknown distribution'}) "
                           f"{what}", plugin=self.plugin, dist=self.dist,
                           hint=hint or "reinstall the plugin's distribution or block it with AUTOML_NAS_DISABLE_PLUGINS")


#: The distribution label of the host's own components (``PluginManager.dist_of``).
BUILT_IN_DIST = "automl-nas (built-in)"


class Registry:
    """All components by ``(kind, name)``; the single factory for building them."""

    def __init__(self) -> None:
        self._components: dict[tuple[str, str], Component] = {}
        self.errors: list[PluginError] = []
        self._clashes: dict[tuple[str, str], PluginError] = {}
        #: plugin name -> distribution of the installed plugins AUTOML_NAS_DISABLE_PLUGINS blocked
        self.disabled: dict[str, str] = {}

    def add(self, component: Component) -> None:
        """Add one descriptor; a clash is recorded as an error naming both plugins. A built-in's
        name stays the built-in's: the plugin's component is left out, and recipes naming (or
        defaulting to) the built-in go on working (every recipe was refused)."""
        key = (component.kind, component.name)
        if key in self._components:
            first = self._components[key]
            if BUILT_IN_DIST in (first.dist, component.dist) and first.dist != component.dist:
                kept, dropped = (first, component) if first.dist == BUILT_IN_DIST else (component, first)
                self._components[key] = kept
                self.errors.append(PluginError(
                    f"{component.kind} {component.name!r} of plugin {dropped.plugin!r} ({dropped.dist}) is left out: "
                    f"the name is automl-nas's built-in {component.kind}'s, which recipes keep getting",
                    plugin=dropped.plugin, dist=dropped.dist, hint="rename the plugin's component"))
                return
            self._clashes[key] = PluginError(
                f"{component.kind} name {component.name!r} is provided by two plugins: {first.plugin!r} ({first.dist}) "
                f"and {component.plugin!r} ({component.dist})", plugin=component.plugin, dist=component.dist,
                hint="uninstall or disable one of them (AUTOML_NAS_DISABLE_PLUGINS=name) so the recipe means one component")
            self.errors.append(
                PluginError(
                    f"{component.kind} name {component.name!r} is provided twice: by plugin "
                    f"{first.plugin!r} ({first.dist}) and by plugin {component.plugin!r} ({component.dist}); "
                    f"a recipe naming it is refused until one of them is uninstalled or disabled",
                    plugin=component.plugin,
                    dist=component.dist,
                    hint="uninstall or disable one of them (AUTOML_NAS_DISABLE_PLUGINS=name)",
                )
            )
            return
        self._components[key] = component

    def clash(self, kind: str, name: str) -> PluginError | None:
        """The error of a name two plugins provide, or ``None``."""
        return self._clashes.get((kind, name))

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names of ``kind`` matching an fnmatch ``pattern``."""
        return sorted(n for k, n in self._components if k == kind and fnmatch.fnmatch(n, pattern))

    def all(self) -> list[Component]:
        return sorted(self._components.values(), key=lambda c: (c.kind, c.name))

    def get(self, kind: str, name: str, *, where: str = "") -> Component:
        """The descriptor, or a :class:`RecipeError` with did-you-mean and the allowed names."""
        try:
            return self._components[(kind, name)]
        except KeyError:
            pass
        if name in self.disabled:  # first-party plugins are named after their component: not a typo
            raise PluginError(f"{where + ': ' if where else ''}{kind.replace('_', ' ')} {name!r} is not available: "
                              f"plugin {name!r} ({self.disabled[name]}) is disabled by AUTOML_NAS_DISABLE_PLUGINS",
                              plugin=name, dist=self.disabled[name],
                              hint=f"remove {name!r} from AUTOML_NAS_DISABLE_PLUGINS, or choose another {kind.replace('_', ' ')}")
        label = kind.replace("_", " ")
        refused = next((e for e in self.errors if f"{label} {name!r}" in e.message or f"{kind} {name!r}" in e.message), None)
        if refused is not None:  # its plugin offered it and the host refused it (a config that is not attrs, ...)
            raise PluginError(f"{where + ': ' if where else ''}{label} {name!r} is not available: {refused.message}",
                              plugin=refused.plugin, dist=refused.dist, hint=refused.hint)
        message = unknown_name_message(kind, name, self.names(kind), where)
        if self.disabled:
            message += f"; disabled by AUTOML_NAS_DISABLE_PLUGINS: {', '.join(sorted(self.disabled))}"
        loaded = {c.plugin for c in self._components.values()}
        failed = sorted({e.plugin for e in self.errors if e.plugin and e.plugin not in loaded
                         and "provided twice" not in e.message})
        if failed:  # the name may be one of theirs: their load errors were printed above
            message += (f"; {len(failed)} plugin(s) failed to load ({', '.join(map(repr, failed))}), and the name may "
                        f"be one of theirs (their errors are printed above; `automl plugins` lists them)")
        hook = f"automl_register_{kind}s"  # a loaded plugin whose hook for this kind raised: only a warning said so
        raised = sorted({e.plugin for e in self.errors if e.plugin and e.plugin in loaded and f" in {hook}:" in e.message})
        if raised:
            message += (f"; plugin(s) {', '.join(map(repr, raised))} raised in {hook}, and the name may be one of "
                        f"theirs (the error is printed above)")
        raise RecipeError(message)

    def create(self, kind: str, name: str, config: Any = None, **context: Any) -> Any:
        """Build the component ``name`` of ``kind`` with an already structured ``config``."""
        component = self.get(kind, name)
        factory = component.load()
        if config is None and component.config is not None:
            config = component.config()
        with plugin_call(subject=f"{kind} {name!r}", plugin=component.plugin, dist=component.dist,
                         action="failed while being built",
                         hint="check the component's options in the recipe; if they are right, report it to the plugin's authors"):
            return factory(config, **context) if component.config is not None or config is not None else factory(**context)


def unknown_name_message(kind: str, name: str, allowed: list[str], where: str = "") -> str:
    label = kind.replace("_", " ")
    prefix = f"{where}: " if where else ""
    listing = ", ".join(allowed) if allowed else "none installed"
    return f"{prefix}unknown {label} {name!r}{did_you_mean(name, allowed)} (available: {listing})"
