"""``--set a.b=c`` overrides and ``[profile.NAME]`` tables, applied to the raw dict."""

from __future__ import annotations

import copy
from typing import Any

from automl_nas.errors import RecipeError, did_you_mean
from automl_nas.recipe._toml import tomllib


def parse_value(text: str) -> Any:
    """A TOML literal (``2``, ``1e-3``, ``true``, ``[4, 2]``, ``{kind="linear"}``) or a bare
    string; a value that opens a table, a list or a quoted string must be valid TOML
    (``ValueError`` with the parser's reason), or a typo would pass as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        if text.lstrip()[:1] in ("{", "[", '"', "'"):
            raise ValueError(str(exc).replace(" (at line 1, column", " (at column")) from None
        return text


def parse_assignment(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {item!r}: expected KEY=VALUE, e.g. --set search.epochs=2")
    try:
        return key.strip(), parse_value(value.strip())
    except ValueError as exc:
        raise RecipeError(f"--set {item!r}: the value is not valid TOML ({exc})",
                          hint="close every quote, bracket and brace, e.g. --set 'data={name=\"npz\", path=\"x.npz\"}'; "
                               "quote a string that starts with a quote or bracket") from None


def split_key(dotted: str, *, source: str = "--set") -> list[str]:
    """``a.b."c.d"`` -> ``["a", "b", "c.d"]``: dots inside TOML quotes belong to the key, as in a
    study's ``study.params."search.sampler.temperature.start"``."""
    parts, current, quote = [], "", ""
    for ch in dotted:
        if quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current)
            current = ""
        else:
            current += ch
    if quote:
        raise RecipeError(f"{source}: key {dotted!r} has an unclosed {quote}", hint=f"close the quote: {dotted}{quote}")
    parts.append(current)
    if not all(parts):  # no recipe key is empty, quoted or not
        raise RecipeError(f"{source}: key {dotted!r} has an empty part", hint="write it as a.b.c")
    return parts


def set_path(data: dict, dotted: str, value: Any, *, source: str) -> None:
    """Set ``data[a][b][c] = value`` for ``a.b.c``; list items by index (``objectives.1.weight``);
    a quoted part may hold dots (:func:`split_key`)."""
    parts = split_key(dotted, source=source)
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            nxt = _list_item(node, part, here, source)
        else:
            nxt = node.get(part)
            if nxt is None and parts[i + 1].isdigit():  # a list the recipe leaves to its default
                raise RecipeError(f"{source}: {here} is not written in the recipe, so it has no item {parts[i + 1]} to "
                                  f"change", hint=f"set the whole list, e.g. --set '{here}=[...]' (`automl plugins "
                                                  f"--options NAME` lists a component's options)")
            if nxt is None:
                nxt = node[part] = {}
        if not isinstance(nxt, (dict, list)):
            raise RecipeError(f"{source}: {here} is a value, not a table; cannot set {dotted}")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, dotted, source)] = value
    else:
        node[last] = value


def _index(node: list, part: str, where: str, source: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise RecipeError(f"{source}: {where}: expected an index below {len(node)}")
    return int(part)


def _list_item(node: list, part: str, where: str, source: str) -> Any:
    return node[_index(node, part, where, source)]


def merge(base: dict, overlay: dict, *, source: str, prefix: str = "") -> dict:
    """Deep-merge ``overlay`` into a copy of ``base``; dotted keys in overlay are paths."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if "." in key:
            set_path(out, key, copy.deepcopy(value), source=source)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and "name" not in value:
            out[key] = merge(out[key], value, source=source, prefix=dotted)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and value.get("name") == out[key].get("name"):
            out[key] = merge(out[key], value, source=source, prefix=dotted)
        else:
            # A table with another component name replaces the old one: options of
            # one plugin rarely fit another.
            out[key] = copy.deepcopy(value)
    return out


def apply_profile(raw: dict, profile: str | None, *, source: str) -> dict:
    profiles = raw.pop("profile", {}) or {}
    if not isinstance(profiles, dict):
        raise RecipeError(f"{source}: profile: expected tables such as [profile.quick]")
    if profile is None:
        return raw
    if profile not in profiles:
        raise RecipeError(
            f"{source}: --profile {profile!r} is not defined{did_you_mean(profile, profiles)} (profiles in this recipe: {', '.join(sorted(profiles)) or 'none'})",
            hint="add a [profile.NAME] table to the recipe or pick one of the listed profiles",
        )
    if not isinstance(profiles[profile], dict):
        raise RecipeError(f"{source}: profile.{profile}: expected a table of overrides ([profile.{profile}] with "
                          f"KEY = VALUE lines), got {type(profiles[profile]).__name__} {profiles[profile]!r}",
                          hint=f"write it as a table: [profile.{profile}] then lines such as \"search.epochs\" = 4")
    return merge(raw, profiles[profile], source=f"{source} [profile.{profile}]")
