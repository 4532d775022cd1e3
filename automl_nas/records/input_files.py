"""The files a run reads through its components' options (``api.INPUT_FILE``): recorded with
their SHA-256 in ``env.json`` when the run starts, compared when it resumes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from automl_nas.api.options import INPUT_FILE
from automl_nas.benchstore import file_sha256
from automl_nas.errors import RecipeError

if TYPE_CHECKING:
    from automl_nas.recipe.resolve import Plan

__all__ = ["ENV_KEY", "check_unchanged", "input_files"]

#: ``env.json`` key of the record: ``{"<recipe key>.<option>": {"path", "sha256"}}``.
ENV_KEY = "input_files"


def input_files(plan: Plan) -> dict[str, dict[str, str]]:
    """Every existing file an option of the plan's components names (marked ``INPUT_FILE``)."""
    chosen = [plan.space, plan.dataset, plan.sampler, *plan.objectives, plan.evaluator]
    out = {}
    for resolved in chosen:
        config = None if resolved is None else resolved.config
        if config is None or not attrs.has(type(config)):
            continue
        for field in attrs.fields(type(config)):
            value = getattr(config, field.name)
            if not (field.metadata.get(INPUT_FILE) and isinstance(value, (str, Path)) and str(value)):
                continue
            path = Path(value).expanduser()  # as the components read it (`~/data.npz`)
            if path.is_file():
                out[f"{resolved.key}.{field.name}"] = {"path": str(value), "sha256": file_sha256(path)}
    return out


def check_unchanged(recorded: Any, plan: Plan, *, run_dir: Path, what: str = "run") -> None:
    """Refuse a resume whose input files differ from those the ``what`` (a run, a seed batch)
    started with (``recorded``: its record; one recorded before them has none and is not checked)."""
    if not isinstance(recorded, dict):
        return
    now = input_files(plan)
    for key, then in recorded.items():
        if not isinstance(then, dict):
            continue
        current = now.get(key)
        if current is None or current["sha256"] != then.get("sha256"):
            state = "is gone" if current is None else "changed"
            raise RecipeError(f"{run_dir}: {key}: {then.get('path')} {state} since the {what} started (SHA-256 "
                              f"{str(then.get('sha256'))[:12]}... recorded then): the resumed {what} would not "
                              f"continue the same search",
                              hint=f"put the file back as it was, or start a new {what} with it (a new --run-dir)")
