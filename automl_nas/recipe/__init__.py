"""Recipes: TOML file -> profile -> overrides -> frozen :class:`Recipe` -> resolved :class:`Plan`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from automl_nas.errors import RecipeError
from automl_nas.recipe._toml import tomllib
from automl_nas.recipe.converter import structure, unstructure
from automl_nas.recipe.model import Recipe
from automl_nas.recipe.overrides import apply_profile, parse_assignment, set_path
from automl_nas.recipe.resolve import Plan, resolve, resolve_ref

__all__ = ["Plan", "Recipe", "dump_recipe", "load_overridden", "load_raw", "load_recipe", "name_key_origins", "name_override_keys", "plan_recipe", "protocol_note", "resolve", "resolve_ref"]


def _json_document(text: str) -> str | None:
    """`` (format ...)`` or ``""`` when ``text`` is a JSON object, else ``None``."""
    import json

    if not text.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    kind = document.get("format") if isinstance(document, dict) else None
    return f" (format {kind!r}: a latency table `automl profile-ops` writes)" if kind == "automl-nas/latency-table" \
        else (f" (format {kind!r})" if isinstance(kind, str) else "")


def load_raw(path: str | Path) -> dict:
    path = Path(path)
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is dropped, not a TOML syntax error
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RecipeError(f"{path}: recipe file not found", hint="check the path; shipped recipes live in recipes/*.toml") from None
    except UnicodeDecodeError as exc:
        raise RecipeError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r})",
                          hint="save the recipe as UTF-8 (TOML files are UTF-8)") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory, not a recipe file",
                          hint="pass a .toml file (to continue a run directory use `automl run --resume DIR`)") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read the recipe: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        json_kind = _json_document(text)
        if json_kind is not None:  # the recipes folder ships JSON latency tables beside the recipes
            raise RecipeError(f"{path}: a JSON document{json_kind}, not a TOML recipe",
                              hint="pass a recipe (.toml); a latency table is named inside one, e.g. "
                                   "objectives' latency_table = \"...json\"") from None
        raise RecipeError(f"{path}: not valid TOML: {exc}", hint="fix the syntax at the line and column named above") from None


def load_overridden(path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = ()) -> dict:
    """The raw recipe dict of ``path`` with ``[profile.NAME]`` then the ``--set`` overrides applied
    (every recipe kind goes through here before it is structured)."""
    source = str(path)
    raw = apply_profile(load_raw(path), profile, source=source)
    for item in overrides:
        key, value = parse_assignment(item)
        if key.split(".")[0] == "profile":  # applied (or dropped) before the overrides: it would vanish
            raise RecipeError(f"--set {item!r}: a profile is chosen with -p NAME, not set with --set",
                              hint="set the keys themselves (--set search.epochs=2), or edit [profile.NAME] in the recipe")
        set_path(raw, key, value, source=f"{source} (--set {item})")
    return raw


def load_recipe(path: str | Path, *, profile: str | None = None, overrides: Iterable[str] = ()) -> Recipe:
    """Read ``path``, apply ``[profile.NAME]`` then ``--set`` overrides, and structure it."""
    raw = load_overridden(path, profile=profile, overrides=overrides)
    raw.setdefault("name", Path(path).stem)
    recipe = structure(raw, Recipe, source=str(path))
    if recipe.expected is not None and (profile or overrides):
        base = load_overridden(path)  # the file as written ([profile.*] tables dropped)
        base.setdefault("name", Path(path).stem)
        try:  # compared structured: a key set to its default changes nothing
            before = unstructure(structure(base, Recipe, source=str(path)))
        except RecipeError:
            before = base
        changed = protocol_changes(before, unstructure(recipe))
        if changed:
            import attrs

            recipe = attrs.evolve(recipe, expected=attrs.evolve(recipe.expected, changed=changed))
    return recipe


#: The recipe's tables that make a paper's protocol; keys in them that change neither the search
#: nor its result: where files are, and what is scored along the way by an evaluator (which keeps
#: the global generators as they were). The per-epoch validation and the Hessian diagnostic do
#: count: they sample architectures from the global generator, so their batch counts shift every
#: later draw of a sampling method (GDAS found another cell with search.valid_batches = 1).
#: The evaluator measures what the band is about: another one compared the paper's figure with
#: another measure (its options choose which columns are reported, or where its file is).
PROTOCOL_TABLES = ("space", "data", "search", "evaluator.name")
NOT_PROTOCOL = ("data.download", "data.root", "search.eval_every")


def protocol_changes(before: dict, after: dict) -> list[str]:
    """The dotted keys of :data:`PROTOCOL_TABLES` whose values differ between two raw recipes: a
    paper's band judges its own protocol (a 1-epoch search on other images was "OUTSIDE" the
    DARTS band, and a collapse there would have been "INSIDE")."""
    def flat(value, prefix: str) -> dict[str, object]:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}.{key}").items()}
        return {prefix: value}

    def pick(raw: dict, key: str):  # a table, or one dotted key of one
        head, _, rest = key.partition(".")
        value = raw.get(head, {})
        return value.get(rest) if rest and isinstance(value, dict) else value

    mine = {k: v for t in PROTOCOL_TABLES for k, v in flat(pick(before, t), t).items()}
    theirs = {k: v for t in PROTOCOL_TABLES for k, v in flat(pick(after, t), t).items()}
    return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k) and k not in NOT_PROTOCOL)


def protocol_note(changed: Iterable[str]) -> str:
    """What ``automl validate`` and a run's start say of a run whose profile or overrides changed
    the paper's protocol (:func:`protocol_changes`): said after the run only, a ``--set data={...}``
    table that dropped the recipe's split went unnoticed."""
    return (f"not the paper's protocol ({', '.join(changed)} changed from the recipe): no verdict against its "
            f"[expected] band")


def plan_recipe(path: str | Path, registry, *, profile: str | None = None, overrides: Iterable[str] = (),
                resuming: bool = False) -> Plan:
    try:
        recipe = load_recipe(path, profile=profile, overrides=overrides)
        return resolve(recipe, registry, source=str(path), resuming=resuming)
    except RecipeError as exc:
        name_key_origins(exc, path, profile, overrides)
        raise


def name_key_origins(exc: RecipeError, path: str | Path, profile: str | None, overrides: Iterable[str]) -> None:
    """Say in ``exc`` which named keys the profile or a ``--set`` gave, not the file."""
    if profile:
        _name_profile_keys(exc, path, profile, overrides)
    name_override_keys(exc, overrides)


def name_override_keys(exc: RecipeError, overrides: Iterable[str]) -> None:
    """A key given with ``--set`` is the command line's, not the file's: ``snas.toml:
    space.chanels: unknown key`` sent the user to a file that has no such line."""
    given = {}
    for item in overrides:
        try:
            given[parse_assignment(item)[0]] = item
        except RecipeError:
            continue
    if given:
        _mark_keys(exc, lambda key: next((f"--set {given[k]}" for k in given if key == k or key.startswith(f"{k}.")),
                                         None))


def _mark_keys(exc: RecipeError, origin: Callable[[str], str | None]) -> bool:
    """Append ``(set by ORIGIN)`` to each line of ``exc``'s message whose named key (``file: KEY:
    ...``) ``origin`` attributes (once per line); whether any line was marked."""
    import re

    lines, marked = [], False
    for line in exc.message.splitlines():
        match = re.search(r": ([\w.\[\]]+): ", line)
        where = origin(re.sub(r"\[(\d+)\]", r".\1", match.group(1))) if match else None
        if where is not None and "(set by" not in line:
            line, marked = f"{line} (set by {where})", True
        lines.append(line)
    exc.message = "\n".join(lines)
    return marked


def _name_profile_keys(exc: RecipeError, path: str | Path, profile: str, overrides: Iterable[str]) -> None:
    """A key the user never wrote, set by the profile for its own choice (`-p quick` sets
    data.size for its digits; `--set data.name=cifar10` kept it): the message says where it came from."""
    try:
        table = (load_raw(path).get("profile") or {}).get(profile) or {}
    except (RecipeError, AttributeError):
        return
    if not isinstance(table, dict):  # the profile itself is malformed: its own message says so
        return
    set_here = {parse_assignment(item)[0] for item in overrides}
    # a key the user set, or one under a table the user set whole, is the user's
    from_profile = {k for k in _dotted_keys(table) if not any(k == s or k.startswith(f"{s}.") for s in set_here)}
    if _mark_keys(exc, lambda key: f"[profile.{profile}]" if key in from_profile else None):
        exc.hint = (f"a profile's value fits the profile's own choices: give the whole table with --set (e.g. "
                    f"--set 'data={{name=\"cifar10\"}}' replaces the profile's [data]), or leave out -p {profile}")


def _dotted_keys(table: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out |= _dotted_keys(value, dotted)
        else:
            out.add(dotted)
    return out


def dump_recipe(recipe: Recipe) -> str:
    """The fully resolved recipe as TOML (saved with each run)."""
    import tomli_w

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return tomli_w.dumps(clean(unstructure(recipe)))
