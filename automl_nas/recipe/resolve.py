"""Recipe names -> registry components; component options -> each plugin's config class."""

from __future__ import annotations

from typing import Any

import attrs

from automl_nas.errors import PluginError, RecipeError
from automl_nas.preflight import EpochsCheck, SpaceCheck
from automl_nas.recipe.converter import structure
from automl_nas.recipe.model import ComponentRef, DataConfig, Recipe
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


def resolve_ref(registry: Registry, kind: str, ref: ComponentRef, *, key: str, source: str,
                objective: bool = False) -> Resolved:
    """The one way a component reference becomes a :class:`Resolved`: the name against the
    registry (did-you-mean), the options structured into the plugin's config class. Raises
    :class:`RecipeError` naming ``source: key``. An objective's ``weight`` is taken from its
    options unless its config class declares a ``weight`` field."""
    component = registry.get(kind, ref.name, where=f"{source}: {key}.name")
    clash = registry.clash(kind, ref.name)
    if clash is not None:
        raise PluginError(f"{source}: {key}.name: {clash.message} (provided twice)", plugin=clash.plugin, dist=clash.dist,
                          hint=clash.hint)
    options = dict(ref.options)
    config_fields = {f.name for f in attrs.fields(component.config)} if component.config is not None else set()
    weight = options.pop("weight", 1.0) if objective and "weight" not in config_fields else 1.0
    if component.config is None:
        if options:
            raise RecipeError(f"{source}: {key}: {kind.replace('_', ' ')} {ref.name!r} takes no options "
                              f"(got {', '.join(sorted(options))})")
        return Resolved(component=component, config=None, key=key, weight=weight)
    # a data set's options share [data] with the host's keys: a typo of either is offered both
    host = tuple(sorted(f.name for f in attrs.fields(DataConfig) if f.name != "options")) if kind == "dataset" else ()
    # A one-shot search's [data] takes its host keys out first: one here is in an eval or black-box
    # recipe, which reads none ("data.split: unknown key; did you mean 'split'?" contradicted itself).
    unread = sorted(set(options) & set(host))
    if unread:
        raise RecipeError(f"{source}: {key}.{unread[0]}: a key of a one-shot search recipe's [data], which this "
                          f"[data] does not read (it takes the data set's own options only, "
                          f"`automl plugins --options {ref.name}`): remove {', '.join(unread)}")
    if objective and "weight" not in config_fields:
        host = ("weight",)  # the host's, beside the objective's own options
    config = structure(options, component.config, source=source, prefix=key, also_allowed=host)
    if objective and "weight" in config_fields:
        weight = float(config.weight)
    return Resolved(component=component, config=config, key=key, weight=weight)


class ResolveErrors:
    """Collects every bad reference of a recipe so that one message names them all."""

    HINT = "fix the named keys; `automl plugins` lists every installed component and `automl plugins --options NAME` its options"

    def __init__(self, registry: Registry, source: str) -> None:
        self.registry, self.source, self.messages = registry, source, []

    def ref(self, kind: str, ref: ComponentRef, key: str, *, objective: bool = False) -> Resolved | None:
        try:
            return resolve_ref(self.registry, kind, ref, key=key, source=self.source, objective=objective)
        except RecipeError as exc:
            self.messages.append(exc.message)
            return None

    def raise_if_any(self) -> None:
        if self.messages:
            raise RecipeError("\n".join(self.messages), hint=self.HINT)


def resolve(recipe: Recipe, registry: Registry, *, source: str, resuming: bool = False) -> Plan:
    found = ResolveErrors(registry, source)
    space = found.ref("search_space", recipe.space, "space")
    data_ref = ComponentRef(name=recipe.data.name, options=recipe.data.options)
    dataset = found.ref("dataset", data_ref, "data")
    sampler = found.ref("sampler", recipe.search.sampler, "search.sampler")
    objectives = [found.ref("objective", ref, f"search.objectives[{i}]", objective=True)
                  for i, ref in enumerate(recipe.search.objectives)]
    refs = recipe.search.objectives
    for i, ref in enumerate(refs):
        first = next(j for j, other in enumerate(refs) if other == ref)
        if first != i:  # the same term twice counts it twice, which a weight says plainly
            found.messages.append(f"{source}: search.objectives[{i}]: the same objective as search.objectives[{first}] "
                                  f"({ref.name!r} with the same options); list it once, with a weight if it should "
                                  f"count more (weight = 2.0)")
    if not recipe.search.objectives:  # every search steps its weights: caught here, not after the data is loaded
        found.messages.append(f"{source}: search.objectives: the list is empty, so no objective gives the weights step "
                              f"a loss (add the task loss: search.objectives = [{{ name = \"cross_entropy\" }}, ...], "
                              f"or remove the key for the default)")
    evaluator = found.ref("evaluator", recipe.evaluator, "evaluator") if recipe.evaluator is not None else None
    trackers = [_tracker(registry, name, f"run.trackers[{i}]", recipe.run.tracker_options.get(name, {}), source,
                         found.messages) for i, name in enumerate(recipe.run.trackers)]
    unused = sorted(n for n, options in recipe.run.tracker_options.items() if options and n not in recipe.run.trackers)
    if unused:
        found.messages.append(f"{source}: run.tracker_options: options for {', '.join(map(repr, unused))}, which "
                              f"run.trackers does not select (add the name to run.trackers or remove the table)")
    twice = sorted({n for n in recipe.run.trackers if recipe.run.trackers.count(n) > 1})
    if twice:
        found.messages.append(f"{source}: run.trackers: {', '.join(map(repr, twice))} listed more than once "
                              f"(each tracker feeds a run once)")
    space_bound = [("search.sampler", sampler), *((f"search.objectives[{i}]", o) for i, o in enumerate(objectives)),
                   ("evaluator", evaluator)]
    for key, resolved in space_bound:
        clash = space_clash(space, resolved)
        if clash and resuming and key == "evaluator":
            # an evaluator's clash costs only the final score (eval_error, `automl eval` then): a run started
            # before this check existed is resumed, not stranded with a recipe it cannot change
            continue
        if clash:  # a run stopped at its first stage change, after loading its data, or after its search
            found.messages.append(f"{source}: {key}: {clash}")
    if sampler is not None and isinstance(sampler.config, EpochsCheck):
        try:
            sampler.config.check_epochs(recipe.search.epochs)
        except ValueError as exc:  # a schedule the search would cut short: its later stages never run
            found.messages.append(f"{source}: search.sampler: {exc}")
    found.raise_if_any()
    return Plan(recipe=recipe, source=source, space=space, dataset=dataset, sampler=sampler,
                objectives=objectives, evaluator=evaluator, trackers=tuple(trackers))  # type: ignore[arg-type]


def space_clash(space: Resolved | None, resolved: Resolved | None) -> str | None:
    """Why ``resolved`` (a sampler, objective or evaluator) cannot serve ``space``, by its config's
    :class:`~automl_nas.preflight.SpaceCheck`; ``None`` when it can or cannot tell."""
    if space is None or resolved is None or not isinstance(resolved.config, SpaceCheck):
        return None
    try:
        resolved.config.check_space(space.component.name, space.config)
    except ValueError as exc:
        return str(exc)
    return None


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
