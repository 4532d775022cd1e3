"""`automl plot` (issue 19): a run, a seed batch and a study each get valid PNGs of nonzero
size and one HTML page that embeds them and names no external URL."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from automl_nas.cli import main
from automl_nas.errors import RunError
from automl_nas.plots import plot_target

FAST = ["--set", "search.steps_per_epoch=2", "--set", "search.epochs=3"]


def _check_page(report, expected: set[str]) -> None:
    out = Path(report.out_dir)
    names = {Path(f).name for f in report.files}
    assert expected <= names, names
    for name in names:
        with Image.open(out / name) as img:
            img.verify()  # a valid PNG, not just bytes
        with Image.open(out / name) as img:
            assert img.format == "PNG" and img.size[0] > 200 and img.size[1] > 100
    page = Path(report.html).read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted((out / n).read_bytes() for n in names)
    assert not re.search(r"https?://|//cdn|<script|<link", page), "the page must open offline"


def _invoke(*args) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_plot_a_run(toy_recipe):
    run_dir = toy_recipe.parent / "runs" / "one"
    _invoke("run", str(toy_recipe), "-q", *FAST, "--set", "search.eval_every=1", "--run-dir", str(run_dir))
    out = json.loads(_invoke("plot", str(run_dir), "--json"))
    assert out["kind"] == "run" and out["html"] == str(run_dir / "plots" / "index.html")
    report = plot_target(run_dir, run_dir / "again")
    _check_page(report, {"curves.png", "alpha-cell.png"})
    page = Path(report.html).read_text()
    from automl_nas.records import RunDir

    epochs = RunDir(run_dir).read_epochs()
    for rec in epochs:
        assert rec.genotype in page
    assert [bool(r.eval) for r in epochs] == [True, True, False]  # eval_every=1: every epoch but the last
    assert "<th>convs</th>" in page  # the evaluator's per-epoch score is a table column (and a curves panel)
    # the panel's line ends at the last epoch with the final evaluation (it stopped an epoch short)
    from automl_nas.plots._data import load_series
    from automl_nas.plots._figures import curves_figure

    series = load_series("one", RunDir(run_dir))
    panel = next(ax for ax in curves_figure(series).axes if ax.get_title().startswith("evaluator score per epoch"))
    (line,) = panel.get_lines()
    assert list(line.get_xdata()) == [1, 2, 3]
    assert list(line.get_ydata()) == [epochs[0].eval["convs"], epochs[1].eval["convs"], series.result.metrics["convs"]]
    other = toy_recipe.parent / "runs" / "two"
    _invoke("run", str(toy_recipe), "-q", *FAST, "--run-dir", str(other))
    refused = CliRunner().invoke(main, ["plot", str(run_dir), "--out", str(other / "plots")])
    # another run's figures were replaced, and its show named them as its own
    assert refused.exit_code == 5 and f"lies inside the records of {other.resolve()}" in refused.output, refused.output
    assert not (other / "plots").exists()


def test_plot_a_seed_batch(toy_recipe):
    parent = toy_recipe.parent / "runs" / "batch"
    _invoke("run", str(toy_recipe), "-q", *FAST, "--seeds", "0-1", "--run-dir", str(parent))
    report = plot_target(parent)
    assert report.kind == "batch"
    _check_page(report, {"seeds.png", "alpha-cell.png"})
    page = Path(report.html).read_text()
    assert "seed-0" in page and "seed-1" in page and "mean ± std" in page


def test_plot_a_study(make_toy_recipe):
    from tests.test_study import STUDY

    path = make_toy_recipe(count=32, tail=STUDY.format(objective='metric = "metrics.convs"'))
    from automl_nas.study.driver import run_study

    sdir = Path(run_study(path, quiet=True, overrides=["search.steps_per_epoch=2"])["study_dir"])
    report = plot_target(sdir)
    assert report.kind == "study"
    _check_page(report, {"trials.png", "best-curves.png", "best-alpha-cell.png"})
    page = Path(report.html).read_text()
    best = Path(json.loads((sdir / "best.json").read_text())["best"][0]["run_dir"]).name
    assert f"best: {best}" in page and f"{best}: curves" in page  # the best trial's figures, by best.json
    assert "trial-0000" in page and "trial-0001" in page
    # A study stopped before its end has no best.json: the page said "best: none finished yet" while
    # show named the storage's best
    (sdir / "best.json").unlink()
    page = Path(plot_target(sdir).html).read_text()
    assert f"best: {best}" in page and f"{best}: curves" in page


def test_plot_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError) as info:
        plot_target(tmp_path)
    assert str(tmp_path) in str(info.value) and "seed batch" in str(info.value)
    res = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert res.exit_code == 5 and "neither a run directory" in res.output


def test_plots_that_do_not_fit_on_the_disk_are_a_run_error_naming_the_directory(toy_recipe, monkeypatch):
    import errno
    import os

    from automl_nas.plots import _figures

    run_dir = toy_recipe.parent / "runs" / "one"
    _invoke("run", str(toy_recipe), "-q", *FAST, "--run-dir", str(run_dir))

    def disk_full(fig, path):  # as matplotlib's savefig fails on a full disk (no file name in the error)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_figures, "save", disk_full)
    res = CliRunner().invoke(main, ["plot", str(run_dir), "--out", str(run_dir / "p")])
    assert res.exit_code == 5 and "internal error" not in res.output
    assert f"{run_dir / 'p'}: cannot write the plots (No space left on device)" in res.stderr
    assert "fix: free disk space there or pass another --out DIR, then plot again" in res.stderr
    assert (run_dir / "result.json").is_file()  # the run itself is untouched


def test_a_batch_s_averaged_distribution_keeps_the_epochs_only_some_seeds_reached():
    """Only the epochs every seed reached were averaged: a seed stopped after 1 of 3 epochs hid the
    finished seeds' last two."""
    from automl_nas.plots._data import RunSeries
    from automl_nas.plots._groups import mean_series
    from automl_nas.records.schema import ArchSnapshot

    def run(name, probs_by_epoch):
        history = tuple(ArchSnapshot(epoch=e, probs={"cell": [[p, 1 - p]]}) for e, p in enumerate(probs_by_epoch))
        return RunSeries(name=name, path=Path("b") / name, epochs=(), history=history)

    mean = mean_series([run("seed-0", [0.5, 0.7, 0.9]), run("seed-1", [0.3])], "mean")
    assert [s.epoch for s in mean.history] == [0, 1, 2]
    assert [s.probs["cell"][0][0] for s in mean.history] == pytest.approx([0.4, 0.7, 0.9])


def test_a_one_epoch_run_is_drawn_as_one_epoch():
    """Its stacked panels were empty over an axis running to a second epoch, with fractional ticks."""
    from automl_nas.plots._data import RunSeries
    from automl_nas.plots._figures import alpha_figure
    from automl_nas.records.schema import ArchSnapshot

    one = RunSeries(name="one", path=Path("one"), epochs=(),
                    history=(ArchSnapshot(epoch=0, probs={"cell": [[0.2, 0.8], [0.6, 0.4]]}),))
    fig = alpha_figure(one, "cell")
    areas = [ax for i, ax in enumerate(fig.axes[:4]) if i % 2 == 1]
    for ax in areas:
        assert len(ax.patches) == 2  # a stacked bar of the two ops
        low, high = ax.get_xlim()
        assert (low, high) == (0.5, 1.5) and [t for t in ax.get_xticks() if low <= t <= high] == [1.0]
    assert [p.get_height() for p in areas[0].patches] == pytest.approx([0.2, 0.8])


def test_plot_of_a_two_objective_study_shows_the_trade_off_and_the_parameters(make_toy_recipe, monkeypatch):
    """The right panel drew each trial's first objective only, and the page's trial table had no
    column for the parameters the study varied."""
    from tests.test_study import STUDY

    from automl_nas.plots import _groups
    from automl_nas.study.driver import run_study

    objective = 'metrics = ["metrics.convs", "search_time_s"]\ndirections = ["maximize", "minimize"]'
    path = make_toy_recipe(count=32, tail=STUDY.format(objective=objective))
    sdir = Path(run_study(path, quiet=True, overrides=["search.steps_per_epoch=2"])["study_dir"])
    drawn = []
    real = _groups.trials_figure
    monkeypatch.setattr(_groups, "trials_figure", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    page = Path(plot_target(sdir).html).read_text()
    panel = drawn[0].axes[1]
    assert panel.get_xlabel() == "metrics.convs" and panel.get_ylabel() == "search_time_s"
    stored = {Path(t["run_dir"]).name: t["values"] for t in json.loads((sdir / "best.json").read_text())["best"]}
    import optuna

    study = optuna.load_study(study_name="s", storage=json.loads((sdir / "study.json").read_text())["storage"])
    every = sorted(tuple(t.values) for t in study.trials if t.values)
    points = sorted(tuple(float(v) for v in c.get_offsets()[0]) for c in panel.collections)
    assert len(points) == 2 and stored
    assert [v for p in points for v in p] == pytest.approx([v for p in every for v in p])
    assert "<th>search.arch_optimizer.lr</th>" in page and "<th>data.batch_size</th>" in page
