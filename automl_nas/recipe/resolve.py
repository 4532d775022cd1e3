"""Recipe names -> registry components; component options -> each plugin's config class."""

from __future__ import annotations

from typing import Any

import attrs

from automl_nas.errors import RecipeError
from automl_nas.recipe.converter import structure
from automl_nas.recipe.model import ComponentRef, Recipe
from automl_nas.registry import Component, Registry


@attrs.frozen(kw_only=True)
class Resolved:
    """A component chosen by the recipe, with its structured options."""

    component: Component
    config: Any
    key: str  # dotted recipe key, for messages
    weight: float = 1.0

    def build(self, registry: Registry, **context: Any) -> Any:
        return registry.create(self.component.kind, self.component.name, self.config, **context)


@attrs.frozen(kw_only=True)
class Plan:
    """Everything ``automl run`` needs, validated before anything heavy starts."""

    recipe: Recipe
    source: str
    space: Resolved
    dataset: Resolved
    sampler: Resolved
    objectives: list[Resolved]
    evaluator: Resolved | None
    trackers: tuple[Resolved, ...] = ()  # run.trackers, each a tracker component (issue 19)


def resolve(recipe: Recipe, registry: Registry, *, source: str) -> Plan:
    errors: list[str] = []

    def one(kind: str, ref: ComponentRef, key: str, *, objective: bool = False) -> Resolved | None:
        try:
            component = registry.get(kind, ref.name, where=f"{source}: {key}.name")
        except RecipeError as exc:
            errors.append(exc.message)
            return None
        options = dict(ref.options)
        weight = 1.0
        config_fields = {f.name for f in attrs.fields(component.config)} if component.config is not None else set()
        if objective and "weight" not in config_fields:
            weight = options.pop("weight", 1.0)
        if component.config is None:
            if options:
                errors.append(f"{source}: {key}: {kind} {ref.name!r} takes no options (got {', '.join(sorted(options))})")
            return Resolved(component=component, config=None, key=key, weight=weight)
        try:
            config = structure(options, component.config, source=source, prefix=key)
        except RecipeError as exc:
            errors.append(exc.message)
            return None
        if objective and "weight" in config_fields:
            weight = float(config.weight)
        return Resolved(component=component, config=config, key=key, weight=weight)

    space = one("search_space", recipe.space, "space")
    data_ref = ComponentRef(name=recipe.data.name, options=recipe.data.options)
    dataset = one("dataset", data_ref, "data")
    sampler = one("sampler", recipe.search.sampler, "search.sampler")
    objectives = [one("objective", ref, f"search.objectives[{i}]", objective=True) for i, ref in enumerate(recipe.search.objectives)]
    evaluator = one("evaluator", recipe.evaluator, "evaluator") if recipe.evaluator is not None else None
    trackers = [_tracker(registry, name, f"run.trackers[{i}]", recipe.run.tracker_options.get(name, {}), source, errors)
                for i, name in enumerate(recipe.run.trackers)]
    unused = sorted(set(recipe.run.tracker_options) - set(recipe.run.trackers))
    if unused:
        errors.append(f"{source}: run.tracker_options: options for {', '.join(map(repr, unused))}, which run.trackers "
                      f"does not select (add the name to run.trackers or remove the table)")
    twice = sorted({n for n in recipe.run.trackers if recipe.run.trackers.count(n) > 1})
    if twice:
        errors.append(f"{source}: run.trackers: {', '.join(map(repr, twice))} listed more than once (each tracker feeds a run once)")
    if errors:
        raise RecipeError("\n".join(errors), hint="fix the named keys; `automl plugins` lists every installed component and `automl plugins --options NAME` its options")
    return Plan(recipe=recipe, source=source, space=space, dataset=dataset, sampler=sampler,
                objectives=objectives, evaluator=evaluator, trackers=tuple(trackers))  # type: ignore[arg-type]


def _tracker(registry: Registry, name: str, key: str, options: dict, source: str, errors: list[str]) -> Resolved | None:
    """One name of ``run.trackers``, its ``run.tracker_options.<name>`` structured into the tracker's config."""
    try:
        component = registry.get("tracker", name, where=f"{source}: {key}")
    except RecipeError as exc:
        errors.append(exc.message)
        return None
    prefix = f"run.tracker_options.{name}"
    if component.config is None:
        if options:
            errors.append(f"{source}: {prefix}: tracker {name!r} takes no options (got {', '.join(sorted(options))})")
        return Resolved(component=component, config=None, key=key)
    try:
        config = structure(dict(options), component.config, source=source, prefix=prefix)
    except RecipeError as exc:
        errors.append(exc.message)
        return None
    return Resolved(component=component, config=config, key=key)
