"""``automl profile-ops``: a latency table of the right shapes, its records, and its errors."""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from automl_nas.cli import main
from automl_nas.costs import read_latency_table

TINY_TIMING = ["--batch", "2", "--repeats", "2", "--warmup", "1", "--threads", "1"]


def profile(*args: str):
    return CliRunner().invoke(main, ["profile-ops", *args])


def test_nb201_table_shapes_values_and_record(tmp_path):
    out = tmp_path / "nb201.json"
    result = profile("nb201", "--set", "space.channels=4", "--set", "space.cells_per_stage=1", "--input", "3x8x8",
                     *TINY_TIMING, "--out", str(out))
    assert result.exit_code == 0, result.output
    table = read_latency_table(out)
    cell = table.groups["cell"]
    assert cell.shape == (3, 6, 5) and cell.ops[3] == "nor_conv_3x3"
    values = [v for c in cell.latency_ms for row in c for v in row]
    assert all(math.isfinite(v) and v > 0 for v in values)
    # one stage per cell here: every edge of a cell sees the same input, so ops are timed once per stage
    assert all(row == cell.latency_ms[c][0] for c in range(3) for row in cell.latency_ms[c])
    assert cell.latency_ms[0] != cell.latency_ms[1]  # stages differ in width and side
    assert table.fingerprint == {"name": "nb201", "channels": 4, "cells_per_stage": 1, "affine": False,
                                 "track_running_stats": False, "partial_channels": 1}
    assert table.inputs == {"channels": 3, "height": 8, "width": 8}
    m = table.measured
    assert (m["device"], m["batch"], m["repeats"], m["warmup"], m["threads"], m["backward"]) == ("cpu", 2, 2, 1, 1, False)
    assert m["torch"] and m["device_name"] and m["unique_ops"] == 15
    # progress on stderr, the per-op summary on stdout
    assert "[ 15/15]" in result.stderr and "nor_conv_3x3" in result.stdout and f"wrote {out}" in result.stdout
    assert set(table.summary["cell"]) == set(cell.ops)


def test_darts_table_with_backward(tmp_path):
    out = tmp_path / "darts.json"
    result = profile("darts", "--set", "space.channels=4", "--set", "space.layers=3", "--input", "3x8x8", "--backward",
                     "--quiet", *TINY_TIMING, "--out", str(out))
    assert result.exit_code == 0, result.output
    table = read_latency_table(out)
    assert {n: g.shape for n, g in table.groups.items()} == {"normal": (1, 14, 8), "reduce": (2, 14, 8)}
    assert table.measured["backward"] is True and result.stderr == ""
    flat = [v for g in table.groups.values() for c in g.latency_ms for row in c for v in row]
    assert all(math.isfinite(v) and v > 0 for v in flat)


def test_recipe_gives_space_and_input_shape(tmp_path):
    out = tmp_path / "quick.json"
    result = profile("--recipe", "recipes/snas.toml", "--profile", "quick", *TINY_TIMING, "-q", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = read_latency_table(out)
    # quick profile: nb201 with 8 channels, 1 cell per stage, on the 16x16 digits
    assert table.fingerprint["channels"] == 8 and table.groups["cell"].shape == (3, 6, 5)
    assert table.inputs == {"channels": 1, "height": 16, "width": 16}


@pytest.mark.parametrize("args,code,message", [
    # a space without op_modules (optional) is the request's problem, not the plugin's, said before any progress line
    (["toy"], 2, "search space 'toy' cannot be profiled: its plugin does not list its ops at their positions"),
    (["gnn"], 2, "make its table as its plugin documents (the GNN space's: README"),
    (["nb201", "-p", "quick"], 2, "--profile applies a profile of --recipe"),
    (["nb201", "--set", "space.chanels=4"], 2, "did you mean"),
    (["nb201", "--set", "search.epochs=2"], 2, "space.KEY=VALUE"),
    (["nb201", "--input", "32x32"], 2, "CxHxW"),
    (["nb201", "--device", "tpu9"], 2, "torch device"),
    (["gdas"], 2, "unknown search space"),
    (["darts", "--recipe", "recipes/snas.toml"], 2, "space.name is 'nb201'"),
    ([], 2, "SPACE"),
])
def test_errors_name_the_fix(tmp_path, args, code, message):
    result = profile(*args, "--out", str(tmp_path / "t.json"))
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cuda_without_a_gpu_is_a_run_error(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = profile("nb201", "--device", "cuda", "--out", str(tmp_path / "t.json"))
    assert result.exit_code == 5 and "--device cpu" in result.output


def test_unwritable_out_is_a_run_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = profile("nb201", "--set", "space.channels=4", "--set", "space.cells_per_stage=1", "--input", "3x8x8",
                     *TINY_TIMING, "-q", "--out", str(blocker / "t.json"))
    # refused before the timing (its end wrote nothing after minutes), with nothing created
    assert result.exit_code == 5 and f"--out: cannot write into {blocker}" in result.output
    assert "nothing was timed" in result.output and "profiling" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_out_never_replaces_a_run_s_records_or_a_file_that_is_not_a_latency_table(tmp_path):
    """`--out runs/v/result.json` replaced a finished run's result (and `.../checkpoints/last.pt`
    its checkpoint): `automl eval` then said the run had no genotype."""
    import json

    args = ["nb201", "--set", "space.channels=4", "--set", "space.cells_per_stage=1", "--input", "3x8x8", *TINY_TIMING]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name, text in (("recipe.toml", 'name = "x"\n'), ("result.json", json.dumps({"status": "finished"})),
                       ("checkpoints/last.pt", "weights")):
        (run / name).write_text(text)
    for target in (run / "result.json", run / "checkpoints" / "last.pt", run / "new.json"):
        result = profile(*args, "--out", str(target))
        assert result.exit_code == 5 and f"lies inside the records of {run}" in result.output, result.output
    assert json.loads((run / "result.json").read_text()) == {"status": "finished"}
    assert (run / "checkpoints" / "last.pt").read_text() == "weights" and not (run / "new.json").exists()
    other = tmp_path / "notes.json"
    other.write_text('{"mine": true}')
    result = profile(*args, "--out", str(other))
    assert result.exit_code == 5 and "exists and is not a latency table; it is left as it is" in result.output
    assert other.read_text() == '{"mine": true}'
    table = tmp_path / "lat.json"
    assert profile(*args, "--out", str(table)).exit_code == 0
    assert profile(*args, "--out", str(table)).exit_code == 0  # a latency table is replaced
    project = tmp_path / "project"
    project.mkdir()
    (project / "recipe.toml").write_text('name = "mine"\n')  # a folder with a recipe is not a run
    assert profile(*args, "--out", str(project / "lat.json")).exit_code == 0
