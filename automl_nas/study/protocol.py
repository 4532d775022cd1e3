"""The protocol a study's trials share besides their parameters, kept with the study.

A study compares trials that differ only in ``[study.params]``. Resumed with another recipe
(more epochs, another data set or evaluator), its new trials would be ranked against old ones
run under other conditions; :func:`check_same_protocol` refuses that, naming the keys.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from automl_nas.errors import RecipeError

if TYPE_CHECKING:
    import optuna

    from automl_nas.recipe.resolve import Plan, Resolved

__all__ = ["changes", "check_same_protocol", "protocol_of"]

_ATTR = "automl_nas_protocol"

#: What may change between runs of one study: where and how fast trials run, how the study itself
#: goes on (more trials, another pruner), and the recipe's labels.
_FREE = ("name", "description", "expected", "run", "executor", "study", "blackbox")


def protocol_of(plan: Plan, params: Iterable[str]) -> dict[str, str]:
    """``{dotted key: value as JSON}`` of what every trial of the study runs with: the recipe with each
    component's options structured (defaults filled in, so spelling a default out is no change),
    less :data:`_FREE` and the keys the study varies."""
    from automl_nas.recipe.converter import unstructure

    raw = unstructure(plan.recipe)
    for key in _FREE:
        raw.pop(key, None)
    raw["space"] = _component(plan.space)
    fixed = {k: v for k, v in raw["data"].items() if k not in plan.recipe.data.options}
    raw["data"] = {**fixed, **_component(plan.dataset)}
    raw["search"]["sampler"] = _component(plan.sampler)
    raw["search"]["objectives"] = [_component(r) for r in plan.objectives]
    raw["evaluator"] = _component(plan.evaluator) if plan.evaluator is not None else None
    varied = tuple(params)
    # Each value as its JSON text: what the storage keeps compares equal when read back (tuples,
    # nan) and reads as in the recipe in a message.
    protocol = {k: json.dumps(v, sort_keys=True) for k, v in _flatten(raw).items()
                if not any(k == p or k.startswith(p + ".") for p in varied)}
    # A file a key names (data, a latency table) rewritten between runs of the study is another
    # protocol under the same key: its content counts, by hash.
    from automl_nas.records.input_files import input_files

    for key, record in input_files(plan).items():
        if not any(key == p or key.startswith(p + ".") for p in varied):  # a file the study varies is its parameter
            protocol[key + _CONTENT] = json.dumps(record["sha256"])
    return protocol


#: Suffix of a protocol key that holds the SHA-256 of the file its key names.
_CONTENT = " (file's SHA-256)"


def check_same_protocol(study: optuna.Study, protocol: dict[str, str], *, name: str, storage: str) -> None:
    """Record ``protocol`` with a new study; refuse a resumed one whose recorded protocol differs.
    A study recorded before protocols were kept has none to compare with and is left as it is."""
    stored = study.user_attrs.get(_ATTR)
    if stored is None:
        if not study.trials:
            study.set_user_attr(_ATTR, protocol)
        return
    if not any(k.endswith(_CONTENT) for k in stored):  # recorded before file contents were kept
        protocol = {k: v for k, v in protocol.items() if not k.endswith(_CONTENT)}
    if stored == protocol:
        return
    changed = changes(stored, protocol)
    shown = "; ".join(changed[:6]) + (f"; and {len(changed) - 6} more" if len(changed) > 6 else "")
    raise RecipeError(f"study {name!r} in {storage} ran its trials under another recipe ({shown}); its new "
                      f"trials would be compared with trials run under other conditions",
                      hint="restore the recipe (only [study], [executor], [run] and the labels may change between "
                           "runs of a study), or use a new study.name (or --storage) for the changed recipe")


def changes(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``key: was X, now Y`` for each key whose value differs (``absent`` on the side without it), sorted."""
    keys = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
    return [f"{k}: was {stored.get(k, 'absent')}, now {now.get(k, 'absent')}" for k in keys]


def _component(resolved: Resolved) -> dict[str, Any]:
    from automl_nas.recipe.converter import unstructure

    # The recipe's own layout (a table's name beside its options), so that keys read as in the recipe.
    options = unstructure(resolved.config) if resolved.config is not None else {}
    return {"name": resolved.component.name, **options}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}
