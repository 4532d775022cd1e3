"""The single-run figures: how the architecture distribution moves, and the training curves.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so drawing keeps
no global state and needs no display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from automl_nas.api.tracker import arch_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from automl_nas.plots._data import RunSeries

__all__ = ["alpha_figure", "curves_figure", "save"]


def save(fig: Figure, path: Path) -> Path:
    """PNG without the writer's URL in its metadata (the HTML page must name no URL)."""
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    return path


def integer_epochs(*axes) -> None:
    """Epoch axes tick at whole epochs."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:  # min_n_ticks=1: over a one-epoch span it fell back to fractional ticks
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _plot(ax, xy: tuple[list, list], **kwargs) -> None:
    """A line only where there are values (no empty legend entries)."""
    if xy[0]:
        ax.plot(*xy, **kwargs)


def _op_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def alpha_figure(series: RunSeries, group: str) -> Figure:
    """One row per edge: the op probabilities as a heatmap over epochs (left) and as a stacked
    area (right)."""
    import numpy as np
    from matplotlib.figure import Figure

    snaps = [s for s in series.history if group in s.probs and s.probs[group]]
    probs = np.asarray([s.probs[group] for s in snaps], dtype=float)  # (T, E, K)
    epochs = [s.epoch + 1 for s in snaps]
    _, n_edges, n_ops = probs.shape
    edges, ops = arch_labels(series.groups, group, n_edges, n_ops)
    fig = Figure(figsize=(12, 1.0 + 1.5 * n_edges), layout="constrained")  # room for title, colour bar, legend
    axes = fig.subplots(n_edges, 2, squeeze=False, sharex="col")
    # The colour scale spans the probabilities seen: early in a search they move by a few percent,
    # which a fixed 0..1 scale would hide (the stacked areas keep the absolute 0..1 view).
    low, high = float(probs.min()), float(probs.max())
    if high - low < 1e-6:
        low, high = 0.0, 1.0
    colors = _op_colors(n_ops)
    extent = (epochs[0] - 0.5, epochs[-1] + 0.5, n_ops - 0.5, -0.5)
    for e in range(n_edges):
        heat, area = axes[e]
        image = heat.imshow(probs[:, e, :].T, aspect="auto", vmin=low, vmax=high, cmap="viridis", extent=extent,
                            interpolation="nearest")
        heat.set_yticks(range(n_ops), ops, fontsize=7)
        heat.set_ylabel(f"edge {edges[e]}", fontsize=8)
        if len(epochs) > 1:
            area.stackplot(epochs, probs[:, e, :].T, colors=colors, labels=ops)
            area.set_xlim(epochs[0], epochs[-1])
        else:  # one epoch: a stacked bar (an area over one point is empty, and its axis ran to a second epoch)
            bottom = 0.0
            for k in range(n_ops):
                area.bar(epochs, probs[:, e, k], bottom=bottom, color=colors[k], label=ops[k], width=0.6)
                bottom += float(probs[0, e, k])
            area.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        area.set_ylim(0, 1)
    axes[0][0].set_title(f"{group}: op probability per edge (heatmap)")
    axes[0][1].set_title(f"{group}: op probability per edge (stacked)")
    axes[-1][0].set_xlabel("epoch")
    axes[-1][1].set_xlabel("epoch")
    integer_epochs(*[ax for row in axes for ax in row])
    axes[0][1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.colorbar(image, ax=[row[0] for row in axes], fraction=0.02, pad=0.02)
    fig.suptitle(f"{series.name}: architecture distribution, group {group}")
    return fig


def _values(series: RunSeries, get) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for rec in series.epochs:
        value = get(rec)
        if value is not None and math.isfinite(float(value)):
            xs.append(rec.epoch + 1)
            ys.append(float(value))
    return xs, ys


def _with_final(series: RunSeries, key: str, xy: tuple[list[int], list[float]]) -> tuple[list[int], list[float]]:
    """``xy`` and the final evaluation's ``key`` at the last epoch: the engine skips the last
    epoch's eval_every score, which the final evaluation gives (the line stopped an epoch short)."""
    result, xs, ys = series.result, *xy
    value = (result.metrics or {}).get(key) if result is not None and result.status == "finished" else None
    last = series.epochs[-1].epoch + 1 if series.epochs else None
    if value is None or last is None or not math.isfinite(float(value)) or (xs and xs[-1] >= last):
        return xy
    return [*xs, last], [*ys, float(value)]


def curves_figure(series: RunSeries) -> Figure:
    """Accuracy with temperature, losses, entropy with skip fraction and, where
    ``search.eval_every`` is set, the evaluator's per-epoch scores."""
    from matplotlib.figure import Figure

    scores = sorted({k for rec in series.epochs for k in (rec.eval or {})})
    fig = Figure(figsize=(12, 7.5 if scores else 6.5))
    axes = fig.subplots(2, 2).ravel()
    acc, loss, ent, extra = axes
    for label, get in (("train", lambda r: r.train_acc), ("valid", lambda r: r.valid_acc),
                       ("child valid", lambda r: r.child_valid_acc)):
        _plot(acc, _values(series, get), marker=".", label=label)
    acc.set(title="accuracy (%)", xlabel="epoch")
    temp = _values(series, lambda r: r.sampler_status.get("temperature"))
    if temp[0]:
        twin = acc.twinx()
        twin.plot(*temp, color="tab:red", linestyle="--", marker=".", label="temperature")  # one epoch: a point
        twin.set_ylabel("temperature", color="tab:red")
        twin.legend(loc="lower right", fontsize=8)
    acc.legend(loc="upper left", fontsize=8)
    for label, get in (("train", lambda r: r.train_loss), ("arch", lambda r: r.arch_loss)):
        _plot(loss, _values(series, get), marker=".", label=label)
    loss.set(title="loss", xlabel="epoch")
    loss.legend(fontsize=8)
    groups = sorted({g for rec in series.epochs for g in rec.entropy})
    for group in groups:
        ent.plot(*_values(series, lambda r, g=group: r.entropy.get(g)), marker=".", label=f"entropy {group}")
    ent.set(title="mean edge entropy (nats) and skip fraction", xlabel="epoch")
    skip = _values(series, lambda r: r.skip_fraction)
    if skip[0]:
        twin = ent.twinx()
        twin.plot(*skip, color="black", linestyle=":", marker="x", label="skip fraction")
        twin.set_ylim(-0.05, 1.05)
        twin.set_ylabel("skip fraction")
        twin.legend(loc="lower right", fontsize=8)
    if groups:
        ent.legend(loc="upper right", fontsize=8)
    if scores:
        for key in scores:
            extra.plot(*_with_final(series, key, _values(series, lambda r, k=key: (r.eval or {}).get(k))), marker="o",
                       label=key)
        extra.set(title="evaluator score per epoch (search.eval_every; the last: the final evaluation)", xlabel="epoch")
        extra.legend(fontsize=8)
    else:
        extra.plot(*_values(series, lambda r: r.param_free_ops), marker=".", label="param-free ops")
        extra.set(title="parameter-free ops in the genotype", xlabel="epoch")
    integer_epochs(*axes)
    fig.suptitle(f"{series.name}: search curves")
    fig.tight_layout()
    return fig
