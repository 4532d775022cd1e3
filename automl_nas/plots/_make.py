"""``plot_target``: which figures a run, a seed batch or a study gets, and the page that shows them.

Output (default ``<TARGET>/plots/``)::

    alpha-<group>.png     op probabilities per edge over epochs: heatmap and stacked area
    curves.png            accuracy + temperature, losses, entropy + skip fraction, eval scores
    seeds.png             (batch) mean ± std across seeds of the curves
    trials.png            (study) every trial's valid accuracy, best highlighted
    index.html            all of it, self-contained (PNG data inline, no URL)

A batch's ``alpha-*.png`` show the probabilities averaged over seeds; a study's show its best
trial (``best-curves.png``, ``best-alpha-*.png``).
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs

from automl_nas.errors import RunError
from automl_nas.plots._data import RunSeries, load_series, space_groups
from automl_nas.plots._html import Section, write_page
from automl_nas.records.layout import is_blackbox_search, member_runs, study_best, target_kind
from automl_nas.records.rundir import RunDir

__all__ = ["PlotReport", "plot_target"]


@attrs.frozen(kw_only=True)
class PlotReport:
    kind: str  # run | batch | study
    target: str
    out_dir: str
    files: list[str]
    html: str
    seconds: float


def plot_target(target: str | Path, out: str | Path | None = None) -> PlotReport:
    """Write the PNGs and ``index.html`` for ``target``; returns what was written.

    Example:
        >>> plot_target("runs/snas-20260101-120000").html  # doctest: +SKIP
        'runs/snas-20260101-120000/plots/index.html'
    """
    started = time.perf_counter()
    target = Path(target)
    kind = target_kind(target)
    runs = _load(target, kind)
    out_dir = Path(out) if out else target / "plots"
    from automl_nas.records.layout import enclosing_records

    place = enclosing_records(out_dir)
    if place is not None and place != target.resolve():  # its show would name another run's figures as its own
        raise RunError(f"--out {out_dir} lies inside the records of {place}, which another command never writes into; "
                       f"nothing was drawn", hint=f"pass a path outside run, batch and study directories, or leave --out "
                                                  f"out ({target / 'plots'})")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out_dir}: cannot create the plot directory ({exc.strerror})", hint="pass a writable --out DIR") from None
    html = out_dir / "index.html"
    try:
        sections = {"run": _run_sections, "batch": _batch_sections, "study": _study_sections}[kind](target, runs, out_dir)
        write_page(html, f"automl-nas {kind}: {target.resolve().name}", sections)
    except OSError as exc:  # a full disk or a directory that turned read-only: the run itself is untouched
        where = exc.filename or out_dir
        raise RunError(f"{where}: cannot write the plots ({exc.strerror or exc})",
                       hint="free disk space there or pass another --out DIR, then plot again") from None
    files = [str(p) for s in sections for p in s.images]
    return PlotReport(kind=kind, target=str(target), out_dir=str(out_dir), files=files, html=str(html),
                      seconds=round(time.perf_counter() - started, 2))


def _load(target: Path, kind: str) -> list[RunSeries]:
    members = member_runs(target)
    groups = space_groups(members[0][1]) if members else ()
    runs = [s for s in (load_series(name, rd, groups) for name, rd in members) if s.epochs]
    if not runs and is_blackbox_search(target):
        raise RunError(f"{target}: nothing to plot: a black-box search's queries have no epochs",
                       hint=f"`automl show {target}` summarises it; result.json's `curve` holds the best value after "
                            f"each query and history.jsonl every query")
    if not runs:
        where = "metrics.jsonl" if kind == "run" else "the metrics.jsonl of its runs"
        raise RunError(f"{target}: nothing to plot: no epoch records in {where}",
                       hint="plot after the first epoch has finished (`automl show` tells how far a run got)")
    return runs


def _save(fig, path: Path) -> Path:
    from automl_nas.plots._figures import save

    return save(fig, path)


def _single(run: RunSeries, out_dir: Path, prefix: str = "") -> list[Section]:
    from automl_nas.plots._figures import alpha_figure, curves_figure

    curves = _save(curves_figure(run), out_dir / f"{prefix}curves.png")
    alphas = tuple(_save(alpha_figure(run, g), out_dir / f"{prefix}alpha-{g}.png") for g in run.group_names)
    last = run.epochs[-1]
    status = run.result.status if run.result else f"{RunDir(run.path).unended_status()} (no result.json)"
    text = f"{run.path}: {status}, {len(run.epochs)} epochs; genotype {run.result.genotype if run.result else last.genotype}"
    return [Section(title=f"{run.name}: curves", images=(curves,), text=text, table=_epoch_table(run)),
            Section(title=f"{run.name}: architecture distribution", images=alphas)]


def _epoch_table(run: RunSeries) -> tuple[tuple, ...]:
    scores = sorted({k for rec in run.epochs for k in (rec.eval or {})})
    head = ("epoch", "train loss", "train acc", "valid acc", "temperature", "skip fraction", *scores, "genotype")
    rows = [(r.epoch + 1, r.train_loss, r.train_acc, r.valid_acc, r.sampler_status.get("temperature"), r.skip_fraction,
             *[(r.eval or {}).get(k) for k in scores], r.genotype) for r in run.epochs]
    return (head, *rows)


def _run_sections(target: Path, runs: list[RunSeries], out_dir: Path) -> list[Section]:
    return _single(runs[0], out_dir)


def _final_table(runs: list[RunSeries], params: dict[str, dict] | None = None) -> tuple[tuple, ...]:
    """One row per run; ``params``: a study's trial parameters by run name (columns of their own)."""
    metrics = sorted({k for r in runs for k in ((r.result.metrics or {}) if r.result else {})})
    keys = sorted({k for p in (params or {}).values() for k in p})
    head = ("run", "status", "epochs", "last valid acc", *metrics, *keys, "genotype")
    rows = [(r.name, r.result.status if r.result else "no result", len(r.epochs), r.epochs[-1].valid_acc,
             *[((r.result.metrics or {}).get(k) if r.result else None) for k in metrics],
             *[(params or {}).get(r.name, {}).get(k) for k in keys],
             r.result.genotype if r.result and r.result.genotype else r.epochs[-1].genotype) for r in runs]
    return (head, *rows)


def _objective_names(target: Path) -> list[str]:
    """The study's objectives as best.json names them (written when a driver ends), else none."""
    import json

    try:
        objectives = json.loads((target / "best.json").read_text(encoding="utf-8"))["objectives"]
        return [str(o[0]) for o in objectives]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return []


def _batch_sections(target: Path, runs: list[RunSeries], out_dir: Path) -> list[Section]:
    from automl_nas.plots._figures import alpha_figure
    from automl_nas.plots._groups import mean_series, spread_figure

    seeds = _save(spread_figure(runs, f"{target.resolve().name}: mean ± std over {len(runs)} seeds"), out_dir / "seeds.png")
    # the finished seeds' distributions, as show's statistics (a failed seed's is no result)
    finished = [r for r in runs if r.result is not None and r.result.status == "finished"] or runs
    mean = mean_series(finished, f"mean of {len(finished)} {'finished ' if finished is not runs else ''}seeds")
    alphas = tuple(_save(alpha_figure(mean, g), out_dir / f"alpha-{g}.png") for g in mean.group_names if mean.history)
    return [Section(title="seeds: mean ± std", images=(seeds,), table=_final_table(runs)),
            Section(title="architecture distribution, averaged over seeds", images=alphas)]


def _study_sections(target: Path, runs: list[RunSeries], out_dir: Path) -> list[Section]:
    from automl_nas.plots._groups import trials_figure

    from automl_nas.records.overview import overview

    seen = overview(target)  # the storage's best, as show reads it (best.json is written only at the end)
    best = [str(r.path) for r in runs if r.path.name in set(seen.best)] or study_best(target)
    values = {row.name: list(row.values) for row in seen.rows if row.values}
    left_out = len(seen.rows) - len(runs)  # trials with no epoch (failed at once, not started) have no curve
    title = f"{target.resolve().name}: {len(runs)} trials" + (f" (and {left_out} without an epoch)" if left_out else "")
    trials = _save(trials_figure(runs, best, title, values, _objective_names(target)), out_dir / "trials.png")
    params = {row.name: row.params for row in seen.rows}
    sections = [Section(title="trials", images=(trials,), table=_final_table(runs, params),
                        text=f"best: {', '.join(Path(b).name for b in best) or 'none finished yet'}")]
    best_paths = {str(Path(b).resolve()) for b in best}
    chosen = [r for r in runs if str(r.path.resolve()) in best_paths][:1] or [max(runs, key=lambda r: r.epochs[-1].valid_acc)]
    return sections + _single(chosen[0], out_dir, prefix="best-")
