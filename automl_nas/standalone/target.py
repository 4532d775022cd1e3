"""``automl eval`` / ``automl export`` targets -> a checked :class:`EvalPlan`.

A target is a run directory (its ``result.json`` genotype and its resolved ``recipe.toml`` for
space, data, seed and evaluator), an evaluation recipe file (``retrain.toml``), or a genotype
string (its space recognised through ``automl_parse_genotype`` unless ``--space`` names it).
Each becomes the raw dict of an :class:`~automl_nas.recipe.eval_recipe.EvalRecipe`; command-line
flags and ``--set`` overrides are applied to that dict, which is then structured and resolved
against the registry exactly like a search recipe. Light: no torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import attrs

from automl_nas.errors import RecipeError, RunError
from automl_nas.recipe.converter import structure
from automl_nas.recipe.eval_recipe import EVAL_RECIPE_KEYS, EvalRecipe
from automl_nas.recipe.overrides import apply_profile, parse_assignment, parse_value, set_path
from automl_nas.recipe.resolve import Resolved, ResolveErrors
from automl_nas.records.rundir import RunDir

if TYPE_CHECKING:
    from automl_nas.api import Genotype

__all__ = ["EvalPlan", "plan_target", "raw_target"]


@attrs.frozen(kw_only=True)
class EvalPlan:
    """A structured evaluation recipe with its components found in the registry."""

    recipe: EvalRecipe
    source: str  # the target as the user named it, for messages
    space: Resolved
    dataset: Resolved | None
    evaluator: Resolved | None  # None when the caller asked not to resolve it (export)

    @property
    def work_dir(self) -> Path:
        run = self.recipe.run
        return Path(run.dir) if run.dir else Path(run.root) / f"eval-{self.recipe.name}"


def raw_target(target: str, *, profile: str | None = None) -> tuple[dict[str, Any], str]:
    """``(raw eval-recipe dict, source label)`` of a run directory, a ``.toml`` file or a genotype string."""
    path = Path(target)
    if _is_dir(path):
        return _raw_from_run(path), str(path)
    if path.suffix == ".toml":
        from automl_nas.recipe import load_raw

        raw = apply_profile(load_raw(path), profile, source=str(path))
        raw.setdefault("name", path.stem)
        return raw, str(path)
    if profile:
        raise RecipeError(f"--profile {profile!r} applies to a recipe file, and {target!r} is a genotype string",
                          hint="drop --profile, or pass the .toml file")
    return {"genotype": target.strip()}, "command line"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a genotype string longer than a file name may be
        return False


def _raw_from_run(path: Path) -> dict[str, Any]:
    from automl_nas.recipe import load_recipe
    from automl_nas.records.layout import is_blackbox_search

    if is_blackbox_search(path):
        return _raw_from_search(path)
    rd = RunDir(path)
    if not rd.recipe_file.exists():
        raise RunError(f"{path} is not a run directory (recipe.toml is missing)",
                       hint="pass the directory `automl run` printed, a .toml evaluation recipe or a genotype string")
    result = rd.read_result()
    if result is None and rd.unended_status() == "running":  # its --resume would be refused: the lock is held
        raise RunError(f"{path}: the run is still going and has no genotype yet",
                       hint=f"wait for it to finish (`automl show {path}` says how far it is), then run this again")
    if result is None or not result.genotype:
        from automl_nas.records.rundir import recorded_world_size, resume_command

        status = "missing" if result is None else result.status
        raise RunError(f"{path}: the run has no genotype yet (result.json status: {status})",
                       hint=f"finish the search first: {resume_command(path, recorded_world_size(path))}")
    recipe = load_recipe(rd.recipe_file)
    raw: dict[str, Any] = {
        "name": rd.path.name, "genotype": result.genotype, "seed": recipe.seed, "source": str(rd.path),
        "space": {"name": recipe.space.name, **recipe.space.options},
        "data": {"name": recipe.data.name, **recipe.data.options},
        "run": {"dir": str(rd.path), "device": recipe.run.device, "threads": recipe.run.threads},
    }
    if recipe.evaluator is not None:
        raw["evaluator"] = {"name": recipe.evaluator.name, **recipe.evaluator.options}
    return raw


def _raw_from_search(path: Path) -> dict[str, Any]:
    """A black-box search directory: its best genotype, with the space, data, seed and evaluator
    of its recipe (``recipe.toml`` as given, with the profile and ``--set`` of ``search.json``)."""
    from automl_nas.recipe import load_overridden
    from automl_nas.records.trial import read_trial_result

    result = read_trial_result(path) or {}
    if result.get("status") != "finished" or not result.get("best_genotype"):
        raise RunError(f"{path}: the black-box search has no best genotype yet (result.json status: "
                       f"{result.get('status', 'missing')})", hint=f"finish the search first: automl search --resume {path}")
    from automl_nas.study.blackbox import saved_settings

    saved = saved_settings(path)
    raw = load_overridden(path / "recipe.toml", profile=saved.get("profile"), overrides=saved.get("overrides", ()))
    out: dict[str, Any] = {"name": path.name, "genotype": result["best_genotype"], "seed": int(raw.get("seed", 0)),
                           "source": str(path), "space": raw["space"], "evaluator": raw["evaluator"],
                           "run": {"dir": str(path)}}
    if "data" in raw:
        out["data"] = raw["data"]
    return out


def apply_flags(raw: dict[str, Any], *, source: str, evaluator: str | None = None, space: str | None = None,
                data: str | None = None, overrides: Iterable[str] = (), bare_key_table: str = "evaluator") -> dict[str, Any]:
    """Command-line choices over the target's: ``--evaluator``, ``--space``, ``--data``, then ``--set``.

    A ``--set`` key whose first part is not an eval-recipe key (``epochs=2``) is short for
    ``<bare_key_table>.epochs=2``.
    """
    if evaluator:
        raw["evaluator"] = _named(raw.get("evaluator"), evaluator)
    if space:
        raw["space"] = _named(raw.get("space"), space)
    if data:
        raw["data"] = parse_data_option(data)
    for item in overrides:
        key, value = parse_assignment(item)
        if key.split(".")[0] not in EVAL_RECIPE_KEYS:
            key = f"{bare_key_table}.{key}"
        set_path(raw, key, value, source=f"{source} (--set {item})")
    return raw


def refuse_supernet_only(plan: EvalPlan, overrides: Iterable[str], *, bare_key_table: str = "evaluator") -> None:
    """A ``--set space.KEY`` whose option shapes only the search supernet (``api.SUPERNET_ONLY``):
    the evaluated network is built without it, so it would be ignored (DARTS ``channels``)."""
    from automl_nas.api import supernet_only_problem

    keys = []
    for item in overrides:
        key, _ = parse_assignment(item)
        if key.split(".")[0] not in EVAL_RECIPE_KEYS:
            key = f"{bare_key_table}.{key}"
        if key.startswith("space.") and key.count(".") == 1:
            keys.append(key.split(".", 1)[1])
    problem = supernet_only_problem(plan.space.component.name, plan.space.component.config, keys)
    if problem:
        raise RecipeError(f"{plan.source}: --set space.{problem}", hint="set the option the network reads, or leave it out")


def parse_data_option(text: str) -> dict[str, Any]:
    """``--data cifar10`` or ``--data '{name="npz", path="x.npz", test_fraction=0.2}'``."""
    try:
        value = parse_value(text) if text.lstrip().startswith("{") else text
    except ValueError as exc:
        raise RecipeError(f"--data {text!r}: not a valid TOML table ({exc})",
                          hint="e.g. --data '{name=\"npz\", path=\"data.npz\", test_fraction=0.2}'") from None
    if isinstance(value, str) and value and not value.lstrip().startswith("{"):
        return {"name": value}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value
    raise RecipeError(f"--data {text!r}: expected a data-set name or a TOML table with a name",
                      hint="e.g. --data digits or --data '{name=\"npz\", path=\"data.npz\", test_fraction=0.2}'")


def _named(old: Any, name: str) -> dict[str, Any]:
    """``{"name": name}``, keeping ``old``'s options when it names the same component."""
    if isinstance(old, str):
        old = {"name": old}
    if isinstance(old, dict) and old.get("name") == name:
        return old
    return {"name": name}


def plan_target(raw: dict[str, Any], source: str, *, registry, pm, resolve_evaluator: bool = True) -> EvalPlan:
    """Structure ``raw`` (finding the space of a bare genotype) and resolve its components."""
    genotype = raw.get("genotype")
    if not isinstance(genotype, str) or not genotype.strip():
        raise RecipeError(f"{source}: genotype: required key is missing", hint="add `genotype = \"...\"` to the recipe")
    space = raw.get("space")
    if not isinstance(space, str) and not (isinstance(space, dict) and "name" in space):
        # e.g. --set space.channels=8 on a bare genotype: keep the options, find the name
        found = recognise_genotype(genotype, pm, registry)
        raw["space"] = {"name": found.space, **(space if isinstance(space, dict) else {})}
        raw["genotype"] = genotype = found.text  # the recognising plugin's spelling of it
    if not raw.get("evaluator"):
        raise RecipeError(f"{source}: no evaluator given",
                          hint=f"pass --evaluator NAME (installed: {', '.join(registry.names('evaluator'))})")
    if "name" not in raw:
        space_name = raw["space"] if isinstance(raw["space"], str) else raw["space"].get("name", "space")
        raw["name"] = f"{space_name}-{hashlib.sha256(genotype.encode()).hexdigest()[:8]}"
    recipe = structure(raw, EvalRecipe, source=source)
    found = ResolveErrors(registry, source)
    space = found.ref("search_space", recipe.space, "space")
    dataset = found.ref("dataset", recipe.data, "data") if recipe.data else None
    evaluator = found.ref("evaluator", recipe.evaluator, "evaluator") if resolve_evaluator else None
    found.raise_if_any()
    return EvalPlan(recipe=recipe, source=source, space=space, dataset=dataset, evaluator=evaluator)  # type: ignore[arg-type]


def recognise_genotype(text: str, pm, registry, *, space_option: str = "--space NAME") -> Genotype:
    """The genotype ``text`` is, as the first ``automl_parse_genotype`` answer gives it (its space
    and its text: a plugin may accept another spelling); when none recognises it, the error
    carries each space's own reason (its parser's message), not just "not recognised", and the
    fix names ``space_option`` (how the caller names a space).

    The implementations are called here one by one, in pluggy's order, so that one that raises
    or answers with something other than a Genotype is named with its distribution."""
    from automl_nas.api import Genotype
    from automl_nas.errors import PluginError, plugin_call

    for impl in reversed(pm.hook.automl_parse_genotype.get_hookimpls()):
        if impl.hookwrapper or getattr(impl, "wrapper", False):
            continue
        plugin = pm.get_name(impl.plugin) or "?"
        fix = f"fix the plugin or block it with AUTOML_NAS_DISABLE_PLUGINS={plugin}"
        with plugin_call(subject="hook automl_parse_genotype", plugin=plugin, dist=pm.dist_of(plugin), action="raised",
                         hint=fix):
            found = impl.function(*[{"text": text}[arg] for arg in impl.argnames])
        if found is None:
            continue
        if not (isinstance(found, Genotype) and isinstance(found.space, str) and isinstance(found.text, str)):
            raise PluginError(f"hook automl_parse_genotype of plugin {plugin!r} ({pm.dist_of(plugin)}) returned "
                              f"{type(found).__name__} {str(found)[:60]!r}, not an automl_nas.api.Genotype or None",
                              plugin=plugin, dist=pm.dist_of(plugin), hint=fix)
        return found
    shown = text if len(text) <= 80 else text[:77] + "..."
    reasons = []
    for name in registry.names("search_space"):
        try:
            registry.create("search_space", name).parse(text)
        except NotImplementedError:
            continue
        except Exception as exc:  # noqa: BLE001 - any parser failure is a reason to show
            reasons.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    why = f" ({'; '.join(reasons)})" if reasons else ""
    cli = space_option.startswith("--")  # `automl eval`/`export` also took the text for a path
    raise RecipeError(f"no installed search space recognises {shown!r} as a genotype"
                      f"{' (and it is not a run directory or a .toml recipe)' if cli else ''}{why}",
                      hint=f"fix the text as its space's reason says, or name its space with {space_option} (installed: "
                           f"{', '.join(registry.names('search_space'))})")