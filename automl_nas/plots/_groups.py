"""Figures across several runs: a seed batch's mean ± std, a study's trials side by side."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Sequence

from automl_nas.plots._data import RunSeries
from automl_nas.plots._figures import integer_epochs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl_nas.records.schema import EpochRecord

__all__ = ["CURVES", "mean_series", "spread_figure", "trials_figure"]

# (panel title, value of one epoch record); the batch and study figures draw these.
CURVES: tuple[tuple[str, Callable[[EpochRecord], float | None]], ...] = (
    ("valid accuracy (%)", lambda r: r.valid_acc),
    ("train loss", lambda r: r.train_loss),
    ("mean edge entropy (nats)", lambda r: sum(r.entropy.values()) / len(r.entropy) if r.entropy else None),
    ("skip fraction", lambda r: r.skip_fraction),
)


def _by_epoch(runs: Sequence[RunSeries], get) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for run in runs:
        for rec in run.epochs:
            value = get(rec)
            if value is not None and math.isfinite(float(value)):
                out.setdefault(rec.epoch + 1, []).append(float(value))
    return dict(sorted(out.items()))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Population std (ddof=0), as in ``aggregate.json``."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def spread_figure(runs: Sequence[RunSeries], title: str) -> Figure:
    """Each curve of :data:`CURVES` as the mean across seeds with a ±1 std band, seeds thin."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5))
    for ax, (name, get) in zip(fig.subplots(2, 2).ravel(), CURVES):
        for run in runs:
            pts = _by_epoch([run], get)
            ax.plot(list(pts), [v[0] for v in pts.values()], color="grey", alpha=0.35, linewidth=0.8)
        by_epoch = _by_epoch(runs, get)
        stats = {e: mean_std(v) for e, v in by_epoch.items()}
        if stats:
            xs = list(stats)
            mean = [m for m, _ in stats.values()]
            std = [s for _, s in stats.values()]
            counts = sorted({len(v) for v in by_epoch.values()})
            n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"  # seeds stopped early count less
            ax.plot(xs, mean, color="tab:blue", marker=".", label=f"mean of the seeds at each epoch (n = {n})")
            ax.fill_between(xs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            color="tab:blue", alpha=0.25, label="± 1 std")
            ax.legend(fontsize=8)
        ax.set(title=name, xlabel="epoch")
        integer_epochs(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def mean_series(runs: Sequence[RunSeries], name: str) -> RunSeries:
    """The architecture history averaged over runs, epoch by epoch, each epoch over the runs that
    reached it (matrices of one shape). Only the epochs every run reached were drawn: a batch with
    one seed stopped early lost the finished seeds' last epochs."""
    import numpy as np

    from automl_nas.records.schema import ArchSnapshot

    reached = set().union(*({s.epoch for s in run.history} for run in runs)) if runs else set()
    snaps = []
    for epoch in sorted(reached):
        per_run = [snap for run in runs for snap in run.history if snap.epoch == epoch]
        probs = {}
        for group in per_run[0].probs:
            mats = [np.asarray(s.probs.get(group, []), dtype=float) for s in per_run]
            if all(m.shape == mats[0].shape and m.size for m in mats):
                probs[group] = np.mean(mats, axis=0).tolist()
        snaps.append(ArchSnapshot(epoch=epoch, probs=probs))
    return RunSeries(name=name, path=runs[0].path.parent, epochs=(), history=tuple(snaps), groups=runs[0].groups)


def trials_figure(runs: Sequence[RunSeries], best: Sequence[str], title: str,
                  values: dict[str, list[float]] | None = None, names: Sequence[str] = ()) -> Figure:
    """Left: every trial's valid accuracy over epochs (best in red); right: the study's objective
    value per trial (``values``, by trial name; ``names``: the objectives'), or for a study of two
    or more objectives the first two against each other (the Pareto front in red), else its
    last-epoch valid accuracy."""
    from pathlib import Path

    from matplotlib.figure import Figure

    best_paths = {str(Path(b).resolve()) for b in best}
    fig = Figure(figsize=(12, 4.5))
    curves, finals = fig.subplots(1, 2)
    pareto = any(len(v) > 1 for v in (values or {}).values())
    label = list(names) + [f"objective {i + 1}" for i in range(len(names), 2)]
    for i, run in enumerate(runs):
        pts = _by_epoch([run], lambda r: r.valid_acc)
        is_best = str(run.path.resolve()) in best_paths
        curves.plot(list(pts), [v[0] for v in pts.values()], color="tab:red" if is_best else "grey",
                    linewidth=2 if is_best else 0.8, alpha=1.0 if is_best else 0.5, label=f"{run.name} (best)" if is_best else None)
        mine = (values or {}).get(run.name)
        if pareto:
            if mine is not None and len(mine) > 1:
                finals.scatter([mine[0]], [mine[1]], color="tab:red" if is_best else "tab:blue", zorder=3)
                finals.annotate(run.name, (mine[0], mine[1]), fontsize=6, xytext=(3, 3), textcoords="offset points")
            continue
        final = mine[0] if mine else (run.epochs[-1].valid_acc if run.epochs and not values else None)
        if final is not None:
            finals.scatter([i], [final], color="tab:red" if is_best else "tab:blue", zorder=3)
    curves.set(title="valid accuracy (%) per trial", xlabel="epoch")
    integer_epochs(curves)
    if pareto:  # one objective per trial was objective 1 only: the trade-off the study searched was not seen
        finals.set(title="objectives per trial (red: the Pareto front)", xlabel=label[0], ylabel=label[1])
    else:
        finals.set(title=f"{label[0] if names else 'objective'} value per trial" if values else
                   "last-epoch valid accuracy (%)", xlabel="trial")
        finals.set_xticks(range(len(runs)), [r.name for r in runs], rotation=60, fontsize=7)
    if any(str(r.path.resolve()) in best_paths for r in runs):
        curves.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
