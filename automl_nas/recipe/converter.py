"""The project's one cattrs converter, strict about types, with readable errors.

Errors come out as ``file: dotted.key: message`` lines; see :func:`structure`.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any, Callable

import attrs
import cattrs
import cattrs.gen
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.preconf.tomllib import make_converter

from automl_nas.errors import RecipeError, did_you_mean
from automl_nas.recipe.model import ComponentRef, DataConfig
from automl_nas.schedules import Schedule


def _strict(kind: type) -> Any:
    def hook(value: Any, _: type) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if kind is float and not math.isfinite(value):  # TOML's nan and inf: no option means them
            raise ValueError(f"must be a finite number (got {value})")
        return value

    return hook


def _component_ref(value: Any, _: type) -> ComponentRef:
    if isinstance(value, str):
        return ComponentRef(name=value)
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise TypeError("expected a table with a string `name` (e.g. { name = \"gdas\" }) or a plain name")
    options = {k: val for k, val in value.items() if k != "name"}
    return ComponentRef(name=value["name"], options=options)


def _unstructure_ref(ref: ComponentRef) -> dict:
    return {"name": ref.name, **ref.options}


_data_fn: Any = None
_DATA_FIELDS = {f.name for f in attrs.fields(DataConfig)} - {"options"}


def _data_config(value: Any, _: type) -> DataConfig:
    if not isinstance(value, dict):
        raise TypeError("expected a table")
    host = {k: val for k, val in value.items() if k in _DATA_FIELDS}
    options = {k: val for k, val in value.items() if k not in _DATA_FIELDS}
    return _data_fn({**host, "options": options}, DataConfig)


def _schedule_hook(conv: cattrs.Converter) -> Any:
    table = cattrs.gen.make_dict_structure_fn(Schedule, conv, _cattrs_forbid_extra_keys=True)

    def hook(value: Any, _: type) -> Schedule:
        # `temperature = 5.0` means what it says: a constant (it was "float is not iterable")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Schedule(kind="constant", start=float(value))
        if not isinstance(value, dict):
            raise TypeError(f"expected a number or a table such as {{ kind = \"linear\", start = 10.0, end = 0.1 }}, "
                            f"got {type(value).__name__} {value!r}")
        _check_converted(Schedule, value)
        return table(value, Schedule)

    return hook


def _from_tables(build: Callable[[type], Any]) -> Any:
    """A hook factory whose hooks structure a table only, with ``build(cls)``'s function: a value
    that is not a table said Python's error instead ("argument of type 'int' is not iterable", or
    "study.int: object has no attribute 'items'", its type name read as a key)."""
    def factory(cls: type) -> Any:
        structure_fn = build(cls)

        def hook(value: Any, _: type) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"expected a table, got {type(value).__name__} {value!r}")
            return structure_fn(value, cls)

        return hook

    return factory


def _tables_only(conv: cattrs.Converter) -> Any:
    """Every attrs class is structured from a table only (``--set search=5``), its fields with a
    converter of their own checked first (:func:`_check_converted`)."""
    def build(cls: type) -> Any:
        structure_fn = conv.gen_structure_attrs_fromdict(cls)

        def checked(value: dict, _: type) -> Any:
            _check_converted(cls, value)
            return structure_fn(value, cls)

        return checked

    return _from_tables(build)


def _check_converted(cls: type, table: dict) -> None:
    """A field with its own converter (a plugin's ``converter=float``, ``converter=tuple``) takes
    the value as it is, past the strict hooks: ``true`` became 1.0, and a failing conversion in
    ``__init__`` named no field ("search.sampler: could not convert string to float", or
    "search.sampler.int: object is not iterable" for ``stage_epochs = 5``). Checked here by the
    field's declared type, and the conversion's own error is said with the field's name
    (``ValueError(message, attribute)``, as attrs validators raise)."""
    for field, hint in _converted_fields(cls):
        if field.name not in table:
            continue
        value = table[field.name]
        # a converter of the project's or a plugin's own may take more (a cost name for a list of them)
        wrong = _wrong_kind(hint, value) if field.converter in (float, int, tuple, list) else ""
        if wrong:
            raise ValueError(wrong, field)
        try:
            field.converter(value)
        except (TypeError, ValueError) as exc:
            said = str(exc).removeprefix(f"'{field.name}' ")  # a message naming its key as attrs validators do
            raise ValueError(said, field) from None


@functools.cache
def _converted_fields(cls: type) -> tuple[tuple[attrs.Attribute, Any], ...]:
    """``cls``'s fields with a converter of their own, each with its declared type (``None`` when
    the annotations do not resolve): worked out once per class, not at every structuring."""
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: nothing to check by
        hints = {}
    return tuple((f, hints.get(f.name)) for f in attrs.fields(cls) if f.converter is not None)


def _wrong_kind(hint: Any, value: Any) -> str:
    """What is wrong with ``value`` for a field declared ``hint`` (empty: nothing known)."""
    import types
    import typing

    if hint is None:
        return ""
    kinds = [k for k in (typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,))
             if k is not type(None)]
    if value is None and len(kinds) != len(typing.get_args(hint) or (hint,)):
        return ""  # an optional field
    if all(k in (int, float) for k in kinds) and kinds:
        if isinstance(value, bool):
            return f"expected a number, got {str(value).lower()}"
        if not isinstance(value, (int, float)):
            return f"expected a number, got {type(value).__name__} {value!r}"
        if int in kinds and float not in kinds and not isinstance(value, int):
            return f"expected an integer, got {value!r}"
    if kinds and all(typing.get_origin(k) in (tuple, list) or k in (tuple, list) for k in kinds):
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {type(value).__name__} {value!r}"
        item = [typing.get_args(k)[0] for k in kinds if typing.get_args(k)]
        if item and item[0] in (int, float):
            bad = [v for v in value if isinstance(v, bool) or not isinstance(v, (int, float))
                   or (item[0] is int and not isinstance(v, int))]
            if bad:
                return f"expected a list of {'integers' if item[0] is int else 'numbers'}, got {value!r}"
    return ""


def _lists_only(conv: cattrs.Converter) -> Any:
    """A list is structured from a list only: `run.trackers = "csv"` became the trackers 'c', 's'
    and 'v' (a string is iterable)."""
    from cattrs.cols import list_structure_factory

    def factory(cls: type) -> Any:
        items = list_structure_factory(cls, conv)

        def hook(value: Any, _: type) -> Any:
            if isinstance(value, str):
                raise TypeError(f"expected a list such as [{json.dumps(value)}], got the string {json.dumps(value)}")
            if not isinstance(value, (list, tuple)):  # 5 said "'int' object is not iterable", read as a key 'int'
                raise TypeError(f"expected a list, got {type(value).__name__} {value!r}")
            return items(value, cls)

        return hook

    return factory


def _dicts_only(conv: cattrs.Converter) -> Any:
    """A mapping is structured from a table only (``--set study=3``)."""
    from cattrs.cols import mapping_structure_factory

    # not conv.gen_structure_mapping: it registers its function for cls, replacing this hook
    return _from_tables(lambda cls: mapping_structure_factory(cls, conv, dict, detailed_validation=conv.detailed_validation))


def make_project_converter(forbid_extra_keys: bool = True) -> cattrs.Converter:
    import typing

    conv = make_converter(forbid_extra_keys=forbid_extra_keys, prefer_attrib_converters=True)
    conv.register_structure_hook_factory(attrs.has, _tables_only(conv))
    conv.register_structure_hook_factory(lambda t: typing.get_origin(t) is list, _lists_only(conv))
    conv.register_structure_hook_factory(lambda t: t is dict or typing.get_origin(t) is dict, _dicts_only(conv))
    for kind in (int, float, bool, str):
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook(ComponentRef, _component_ref)
    conv.register_unstructure_hook(ComponentRef, _unstructure_ref)
    global _data_fn
    _data_fn = cattrs.gen.make_dict_structure_fn(DataConfig, conv, _cattrs_forbid_extra_keys=True)
    conv.register_structure_hook(DataConfig, _data_config)
    conv.register_structure_hook(Schedule, _schedule_hook(conv))
    conv.register_unstructure_hook(
        DataConfig,
        lambda d: {**{f: getattr(d, f) for f in sorted(_DATA_FIELDS)}, **d.options},
    )
    return conv


_base = make_project_converter()
converter = _base


def structure(data: Any, cls: type, *, source: str, prefix: str = "", also_allowed: tuple[str, ...] = (),
              hint: str | None = None) -> Any:
    """Structure ``data`` into ``cls``; raise one :class:`RecipeError` listing every problem.
    ``also_allowed``: keys the same table takes beside ``cls``'s fields (a data set's options sit
    next to the host's ``[data]`` keys), offered when a key is unknown. ``hint``: the fix, where the
    data is not a recipe's (a Python caller's keyword arguments)."""
    hint = hint or _hint(cls)
    bad = _non_finite(data, prefix)
    if bad:  # a field with its own converter (float) skips the strict float hook
        raise RecipeError("\n".join(f"{source}: {key}: must be a finite number (got {value})" for key, value in bad),
                          hint=hint)
    try:
        return converter.structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        lines = [f"{source}: {msg}" for msg in _messages(exc, prefix, cls, also_allowed, _field_names(cls))]
        raise RecipeError("\n".join(lines), hint=hint) from None
    except (TypeError, ValueError) as exc:  # raised by the class itself (a validator, a converter): named when it says
        raise RecipeError(f"{source}: {_validator_message(exc, prefix, _field_names(cls))}", hint=hint) from None


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls)) if attrs.has(cls) else ()


def _non_finite(data: Any, path: str) -> list[tuple[str, float]]:
    """The dotted keys of TOML's ``nan`` and ``inf`` in ``data``: no option means them."""
    if isinstance(data, float):
        return [] if math.isfinite(data) else [(path or "(top level)", data)]
    if isinstance(data, dict):
        return [bad for key, value in data.items() for bad in _non_finite(value, _join(path, key))]
    if isinstance(data, (list, tuple)):
        return [bad for i, value in enumerate(data) for bad in _non_finite(value, _join(path, i))]
    return []


def _hint(cls: type) -> str:
    return "edit the recipe (or the --set override) at the key named above; `automl plugins --options NAME` lists a plugin's options"


def _join(prefix: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]" if prefix else f"[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def _messages(exc: BaseException, path: str, cls: Any = None, also_allowed: tuple[str, ...] = (),
              fields: tuple[str, ...] = ()) -> list[str]:
    """One line per problem; ``fields``: the names of the class at ``path`` (known at the top)."""
    out: list[str] = []
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        for sub in exc.exceptions:
            # cattrs notes a field's name or an item's index; other notes are plain strings (whose
            # str.index method must not pass for an index)
            key = None
            for note in getattr(sub, "__notes__", []):
                if isinstance(note, AttributeValidationNote):
                    key = note.name
                elif isinstance(note, IterableValidationNote):
                    key = note.index
            # a missing key's KeyError names the key itself (newer cattrs note it too: joined once)
            sub_path = _join(path, key) if key is not None and not isinstance(sub, KeyError) else path
            out.extend(_messages(sub, sub_path, cls, also_allowed, fields if sub_path == path else ()))
        return out
    if isinstance(exc, ForbiddenExtraKeysError):
        allowed = sorted(f.name for f in attrs.fields(exc.cl)) if attrs.has(exc.cl) else []
        if exc.cl is cls:
            allowed = sorted({*allowed, *also_allowed})
        for extra in sorted(exc.extra_fields):
            out.append(_unknown_key(_join(path, extra), extra, allowed))
        return out
    if isinstance(exc, KeyError):
        return [f"{_join(path, exc.args[0])}: required key is missing"]
    return [_validator_message(exc, path, fields)]


def _unknown_key(dotted: str, key: str, allowed: list[str]) -> str:
    allowed = [a for a in allowed if a != "options"]
    if not key:  # `"" = 1`: a quoted empty key, shown as one
        dotted = f"{dotted}\"\"" if dotted.endswith(".") or not dotted else dotted
    if not allowed:  # "(allowed: )" read as a bug; the table takes no keys at all
        parent = dotted.rpartition(".")[0]
        return f"{dotted}: unknown key ({parent or 'this table'} takes no options)"
    return f"{dotted}: unknown key{did_you_mean(key, allowed)} (allowed: {', '.join(allowed)})"


def unstructure(obj: Any) -> Any:
    return converter.unstructure(obj)


def _validator_message(exc: BaseException, path: str, fields: tuple[str, ...] = ()) -> str:
    """attrs validators raise ``ValueError(msg, Attribute, ...)`` or ``"'name' must be ..."``; a
    plugin's own validator often starts its message with the field's name (``hidden=30 must be
    a multiple of 4``): with the class's ``fields`` known, that names the key too (it named the
    table, and the "(set by --set ...)" note could not find the override)."""
    import re

    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], attrs.Attribute):
        return f"{_join(path, args[1].name)}: {args[0]}"
    text = str(args[0]) if args else str(exc)
    short = re.match(r"^Length of '(\w+)' must be >= (\d+): \d+$", text)  # attrs' min_len
    if short:
        least = int(short.group(2))
        return f"{_join(path, short.group(1))}: must not be empty" if least == 1 else \
            f"{_join(path, short.group(1))}: needs at least {least} items"
    match = re.match(r"^'(\w+)' (.*)$", text)
    if match:
        return f"{_join(path, match.group(1))}: {match.group(2)}"
    first = re.match(r"^(\w+)(: )?", text)
    named = {w for w in re.findall(r"\w+", text) if w in fields}
    # "latency_table: ..." (the plugin names its key) once, as the key; "hidden=30 must ..." as said; a
    # message about several fields ("train_nodes + valid_nodes = 1.2") stays the table's: the one named
    # first may not be the one set
    if first and first.group(1) in fields and (first.group(2) or named == {first.group(1)}):
        return f"{_join(path, first.group(1))}: {text[first.end():] if first.group(2) else text}"
    return f"{path or '(top level)'}: {text}"
