"""What kind of directory the user pointed at: one run, a seed batch or a study.

* run: ``recipe.toml`` or ``metrics.jsonl`` (:mod:`automl_nas.records.rundir`);
* seed batch: ``aggregate.json`` or ``seed-N/`` run directories (:mod:`automl_nas.execution.trials`);
* study: ``best.json``, ``study.db`` or ``trial-NNNN/`` run directories (:mod:`automl_nas.study.driver`).
"""

from __future__ import annotations

import re
from pathlib import Path

from automl_nas.errors import RunError
from automl_nas.records.rundir import RunDir

__all__ = ["TRIAL_OF", "enclosing_records", "is_blackbox_search", "is_run_directory", "member_runs", "study_best", "target_kind"]

_SEED = re.compile(r"^seed-(\d+)$")
_TRIAL = re.compile(r"^trial-(\d+)$")


#: Besides its recipe.toml, what a run (or a black-box search) writes as it starts.
_RUN_WRITES = ("result.json", "metrics.jsonl", "env.json", "search.json", "checkpoints")


def _is_run(path: Path) -> bool:
    """A run's records: its epochs, or its recipe.toml with what a run writes beside it (a project
    folder holding a recipe.toml of its own was shown as a run "running or killed")."""
    return (path / "metrics.jsonl").is_file() or (
        (path / "recipe.toml").is_file() and any((path / n).exists() for n in _RUN_WRITES))


def is_run_directory(path: str | Path) -> bool:
    """``path`` holds a run's records (``automl run``, ``automl search``, ``automl eval``): its
    ``recipe.toml``, ``metrics.jsonl`` or ``result.json``."""
    return _is_run(Path(path)) or (Path(path) / "result.json").is_file()


#: set by the executor for the processes of a ranked trial: the batch or study directory whose
#: trial they run (the one place `automl run --run-dir` may lie inside)
TRIAL_OF = "AUTOML_NAS_TRIAL_OF"


def enclosing_records(path: str | Path) -> Path | None:
    """The run, seed batch, study or search directory that ``path`` (a file or directory to be
    written) lies in, or ``None``: other commands never write into one (a run started inside a
    batch was counted among its seeds; a latency table replaced a run's result.json)."""
    folder = Path(path).expanduser().resolve()
    for place in (folder, *folder.parents):
        # a project folder with a recipe.toml of its own is not a run: a run also has what it wrote
        ran = (place / "recipe.toml").is_file() and any((place / n).exists() for n in _RUN_WRITES)
        if ran or any((place / n).is_file() for n in ("batch.json", "study.json")):
            return place
    return None


def is_blackbox_search(path: str | Path) -> bool:
    """A run directory of ``automl search``: ``search.json`` beside its recipe; queries, no epochs."""
    return (Path(path) / "search.json").is_file() and (Path(path) / "recipe.toml").is_file()


def _members(path: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in path.iterdir() if p.is_dir() and (m := pattern.match(p.name)) and _is_run(p)]
    return sorted(found)


def target_kind(path: str | Path) -> str:
    """``"run"``, ``"batch"`` or ``"study"``; a :class:`RunError` naming the path otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such directory", hint="pass a run directory, a seed batch or a study directory under runs/")
    if _is_run(path):
        return "run"
    if any((path / n).is_file() for n in ("aggregate.json", "batch.json")) or _members(path, _SEED):
        return "batch"
    if (path / "best.json").is_file() or (path / "study.db").is_file() or _members(path, _TRIAL):
        return "study"
    raise RunError(f"{path} is neither a run directory (metrics.jsonl, or recipe.toml beside what a run writes: "
                   f"env.json, checkpoints/, result.json), a seed batch (aggregate.json, "
                   f"seed-N/) nor a study directory (best.json, trial-NNNN/)",
                   hint="pass the directory `automl run`, `automl run --seeds` or `automl study` printed")


def member_runs(path: str | Path) -> list[tuple[str, RunDir]]:
    """The run directories of a batch (``seed-N``) or a study (``trial-NNNN``), in order; ``[(name, RunDir)]``."""
    path = Path(path)
    kind = target_kind(path)
    if kind == "run":
        return [(path.name, RunDir(path))]
    pattern = _SEED if kind == "batch" else _TRIAL
    return [(p.name, RunDir(p)) for _, p in _members(path, pattern)]


def trial_dir_here(study_dir: Path, recorded: str) -> str:
    """A trial's run directory as recorded (absolute, where the study ran), resolved; in a study
    directory that was moved or copied since, the trial directory of that name here (show lost
    every trial's parameters and values, and named a best trial at the old place; a copy's
    reports named the original's trials, which a later step would then read or change)."""
    path = Path(recorded).resolve()
    here = study_dir.resolve() / path.name
    return str(here if here.is_dir() else path)


def study_best(path: str | Path) -> list[str]:
    """The run directories of a study's best trial (or Pareto front), from its ``best.json``
    (written by :mod:`automl_nas.study.report`); empty while the study has no finished trial."""
    import json

    file = Path(path) / "best.json"
    if not file.is_file():
        return []
    try:
        best = json.loads(file.read_text(encoding="utf-8")).get("best") or []
    except (ValueError, AttributeError):
        return []
    return [str(b["run_dir"]) for b in best if isinstance(b, dict) and b.get("run_dir")]
