"""End-of-study files: best trial(s), ``trials.csv`` and plots.

Plots are Plotly HTML (``optuna.visualization``; ``plotly.min.js`` is written
once next to them, so the pages work offline); without Plotly they fall back to
matplotlib PNGs; without either they are skipped with a note in ``best.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl_nas.study.config import StudyConfig

__all__ = ["best_trials", "stored_trials", "write_report"]


def best_trials(study, study_dir: Path | None = None) -> list[dict[str, Any]]:
    """The best trial (single objective) or the Pareto front (several), as plain dicts; with
    ``study_dir``, each run directory where it is now (a moved study's storage names the old place)."""
    from optuna.trial import TrialState

    from automl_nas.records.layout import trial_dir_here

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    chosen = study.best_trials if len(study.directions) > 1 else [study.best_trial]

    def here(run_dir: str | None) -> str | None:
        return trial_dir_here(study_dir, run_dir) if run_dir and study_dir is not None else run_dir

    return [{"number": t.number, "values": list(t.values), "params": dict(t.params),
             "run_dir": here(t.user_attrs.get("run_dir"))} for t in chosen]


def stored_trials(study_dir: Path) -> tuple[dict[str, dict], list[str]] | None:
    """What the storage named by ``study_dir/study.json`` holds now: ``({run_dir: {"state",
    "values", "params"}}, best run_dirs)``, for ``automl show`` of a study that is running, was
    killed or shares its storage with other drivers (``trials.csv`` and ``best.json`` are written
    when a driver ends). ``None`` when the storage cannot be read; nothing is written to it."""
    import json

    try:
        bound = json.loads((study_dir / "study.json").read_text(encoding="utf-8"))
        name = str(bound["study"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    from automl_nas.records.layout import trial_dir_here
    from automl_nas.study.storage import bound_storage, local_file, open_storage

    url = bound_storage(study_dir, bound)  # where it is now, for a moved directory's own study.db

    local = local_file(url)
    if local is not None and not local.is_file():  # opening would create an empty storage
        return None
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=name, storage=open_storage(url))
        trials = study.get_trials(deepcopy=False)
        best = [str(b["run_dir"]) for b in best_trials(study, study_dir) if b.get("run_dir")]
    except Exception:  # noqa: BLE001 - a storage show cannot read: the files the driver wrote are shown
        return None
    from automl_nas.study.storage import queued_again

    again = queued_again((t.state.name, t.user_attrs) for t in trials)
    table = {trial_dir_here(study_dir, t.user_attrs["run_dir"]): {
        "state": t.state.name, "values": list(t.values) if t.state.name == "COMPLETE" and t.values else None,
        "params": dict(t.params), "queued": Path(t.user_attrs["run_dir"]).name in again}
        for t in trials if t.user_attrs.get("run_dir")}
    return table, best


def write_report(study, study_dir: Path, cfg: StudyConfig) -> dict[str, Any]:
    from automl_nas.errors import RunError
    from automl_nas.records.rundir import atomic_write_json

    # The trials are in the storage by now: a report that cannot be written is written by the next run.
    hint = ("free disk space or fix the permissions, then run the same `automl study` command again: its trials "
            "are kept in the storage and the report is written again")
    best = best_trials(study, study_dir)
    from automl_nas.records.rundir import replace_atomically

    try:  # each file whole or not at all: a half-written one stayed, and the next report kept it
        replace_atomically(study_dir / "trials.csv", _trials_table(study, study_dir).to_csv(index=False).encode())
        plots, notes = _plots(study, study_dir, cfg)
    except OSError as exc:
        raise RunError(f"{study_dir}: cannot write the study's report ({exc.strerror or exc})", hint=hint) from None
    atomic_write_json(study_dir / "best.json", {"study": cfg.name, "objectives": cfg.objectives, "best": best,
                                                "pareto_front": len(study.directions) > 1, "plot_notes": notes},
                      hint=hint)
    return {"best": best, "files": [str(study_dir / "trials.csv"), str(study_dir / "best.json"), *plots],
            "plot_notes": notes}


def _trials_table(study, study_dir: Path):
    # A study with metric names (set_metric_names) gets them as column headers; trials.csv
    # keeps Optuna's unnamed headers (value, values_0, ...), which automl show/plot read.
    from automl_nas.records.layout import trial_dir_here

    frame, names = study.trials_dataframe(), study.metric_names
    if "user_attrs_run_dir" in frame:  # where each run is now (a moved study's storage names the old place)
        frame["user_attrs_run_dir"] = [trial_dir_here(study_dir, r) if isinstance(r, str) and r else r
                                       for r in frame["user_attrs_run_dir"]]
    if names:  # Optuna writes value_<name> (one objective) or values_<name> (several)
        plain = ["value"] if len(names) == 1 else [f"values_{i}" for i in range(len(names))]
        frame = frame.rename(columns={f"{prefix}_{name}": col for name, col in zip(names, plain)
                                      for prefix in ("value", "values")})
    return frame


def _plottable(study):
    """``study``, or an in-memory copy of its finished trials with list-valued choices as their
    JSON text: Optuna's parallel-coordinate and slice plots hash every choice and stop at a list
    ("unhashable type: 'list'"). The storage keeps the lists, so resume is unaffected."""
    import json

    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    def listed(value: Any) -> bool:
        return isinstance(value, (list, tuple))

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    if not any(listed(v) for t in trials for v in t.params.values()):
        return study
    copy = optuna.create_study(directions=study.directions)
    if study.metric_names:
        import warnings

        with warnings.catch_warnings():  # its ExperimentalWarning printed after every such study (stable since 3.2)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            copy.set_metric_names(study.metric_names)
    for t in trials:
        distributions = {k: CategoricalDistribution([json.dumps(c) if listed(c) else c for c in d.choices])
                         if isinstance(d, CategoricalDistribution) else d for k, d in t.distributions.items()}
        params = {k: json.dumps(v) if listed(v) else v for k, v in t.params.items()}
        copy.add_trial(create_trial(state=t.state, values=t.values, params=params, distributions=distributions,
                                    intermediate_values=t.intermediate_values, user_attrs=t.user_attrs))
    return copy


def _figures(study, cfg: StudyConfig, vis) -> dict[str, Any]:
    study = _plottable(study)
    names = [m for m, _ in cfg.objectives]
    multi = len(names) > 1
    first = (lambda t: t.values[0]) if multi else None
    makers = {"history": lambda: vis.plot_optimization_history(study, target=first, target_name=names[0]),
              "importances": lambda: vis.plot_param_importances(study, target=first, target_name=names[0])}
    makers["parallel_coordinate"] = lambda: vis.plot_parallel_coordinate(study, target=first, target_name=names[0])
    makers["slice"] = lambda: vis.plot_slice(study, target=first, target_name=names[0])
    if multi:
        makers["pareto_front"] = lambda: vis.plot_pareto_front(study, target_names=names)
    elif cfg.pruner != "none":  # the per-epoch values the pruner judged (issue 14)
        makers["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
    return makers


def _plots(study, study_dir: Path, cfg: StudyConfig) -> tuple[list[str], list[str]]:
    import warnings

    try:
        import plotly
        import plotly.offline  # noqa: F401 - get_plotlyjs
        import optuna.visualization as vis
        html = True
    except ImportError:
        try:
            import optuna.visualization.matplotlib as vis
            html = False
        except ImportError:
            return [], ["no plots: install plotly (HTML) or matplotlib (PNG)"]
    from automl_nas.records.rundir import replace_atomically

    written, notes = [], []
    if html:  # plotly writes its bundle in place, and only when missing: one cut short by a full disk stayed for good
        bundle = plotly.offline.get_plotlyjs().encode()
        script = study_dir / "plotly.min.js"
        if not script.is_file() or script.stat().st_size != len(bundle):
            replace_atomically(script, bundle)
    for name, make in _figures(study, cfg, vis).items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna marks the matplotlib backend experimental
                fig = make()
        except Exception as exc:  # noqa: BLE001 - e.g. importances need >= 2 finished trials
            notes.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        path = study_dir / f"{name}.{'html' if html else 'png'}"
        if html:
            replace_atomically(path, fig.to_html(include_plotlyjs="directory").encode())
        else:
            fig.figure.savefig(path, dpi=120, bbox_inches="tight")
        written.append(str(path))
    return written, notes
