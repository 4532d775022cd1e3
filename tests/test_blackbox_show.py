"""`automl show` and `automl plot` on an `automl search` directory: queries, not epochs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from automl_nas.cli import main

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"


def test_show_summarises_a_black_box_search_and_plot_says_what_to_read_instead(tmp_path):
    run_dir = tmp_path / "s"
    out = CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(run_dir)])
    assert out.exit_code == 0, out.output
    result = json.loads((run_dir / "result.json").read_text())
    shown = CliRunner().invoke(main, ["show", str(run_dir)])
    assert shown.exit_code == 0, shown.output
    assert f"black-box search {run_dir}" in shown.output and "queries       20 recorded" in shown.output
    assert f"best_genotype {result['best_genotype']}" in shown.output and "proposer      morphism" in shown.output
    assert "epochs" not in shown.output and "automl plot" not in shown.output
    as_json = json.loads(CliRunner().invoke(main, ["show", str(run_dir), "--json"]).stdout)
    assert as_json["kind"] == "blackbox" and as_json["queries_recorded"] == 20
    assert as_json["result"]["best_value"] == result["best_value"] and "curve" not in as_json["result"]
    plot = CliRunner().invoke(main, ["plot", str(run_dir)])
    assert plot.exit_code == 5 and "a black-box search's queries have no epochs" in plot.output
    assert "first epoch" not in plot.output

    (run_dir / "result.json").unlink()  # stopped: the queries so far, and how to continue
    stopped = CliRunner().invoke(main, ["show", str(run_dir)])
    assert "running or stopped (no result.json)" in stopped.output and f"automl search --resume {run_dir}" in stopped.output
