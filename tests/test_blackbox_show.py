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

    (run_dir / "result.json").unlink()  # stopped: the queries so far, the best of them, and how to continue
    stopped = CliRunner().invoke(main, ["show", str(run_dir)])
    assert "running or killed (no result.json)" in stopped.output and f"automl search --resume {run_dir}" in stopped.output
    first = next(json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()
                 if json.loads(line)["value"] == result["best_value"])
    assert f"best so far   {result['best_value']} {result['best_genotype']} (query {first['query']})" in stopped.output
    (run_dir / ".lock").write_text(json.dumps({"pid": 2**22 + 12345, "host": __import__("socket").gethostname()}))
    killed = json.loads(CliRunner().invoke(main, ["show", str(run_dir), "--json"]).stdout)  # its process is gone
    assert killed["status"] == "killed" and killed["best_so_far"]["genotype"] == result["best_genotype"]


def test_eval_export_and_run_resume_of_a_search_directory(tmp_path):
    """eval and export refused every finished search ("the run has no genotype yet ... status:
    finished", fix `automl run --resume`); `run --resume` said `search: required key is missing`."""
    gnn = RECIPE.parent / "gnn-rea.toml"
    run_dir = tmp_path / "rea"
    out = CliRunner().invoke(main, ["search", str(gnn), "-p", "quick", "-q", "--run-dir", str(run_dir)])
    assert out.exit_code == 0, out.output
    best = json.loads(out.stdout)["best_genotype"]
    evaluated = CliRunner().invoke(main, ["eval", str(run_dir), "-q"])
    assert evaluated.exit_code == 0, evaluated.output
    record = json.loads(evaluated.stdout)
    assert record["genotype"] == best and record["evaluator"] == "nas-bench-graph"
    direct = CliRunner().invoke(main, ["eval", best, "-e", "nas-bench-graph", "-q", "--work-dir", str(tmp_path / "w")])
    assert json.loads(direct.stdout)["metrics"] == record["metrics"]  # the search's table, dataset and options
    resumed = CliRunner().invoke(main, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 5 and f"automl search --resume {run_dir}" in resumed.output

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("recipe.toml", "search.json"):
        (unfinished / name).write_bytes((run_dir / name).read_bytes())
    refused = CliRunner().invoke(main, ["eval", str(unfinished)])
    assert refused.exit_code == 5 and "has no best genotype yet" in refused.output
    assert f"automl search --resume {unfinished}" in refused.output


def test_export_of_a_morphism_search_directory_exports_its_best_cell(tmp_path):
    macro = RECIPE.parent / "morphism-macro.toml"
    run_dir = tmp_path / "mm"
    out = CliRunner().invoke(main, ["search", str(macro), "-p", "quick", "-q", "--run-dir", str(run_dir),
                                    "--set", "blackbox.queries=2"])
    assert out.exit_code == 0, out.output
    exported = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "x")])
    assert exported.exit_code == 0, exported.output
    genotype = json.loads((tmp_path / "x" / "genotype.json").read_text())
    assert genotype["text"] == json.loads(out.stdout)["best_genotype"] and genotype["source_run"] == str(run_dir)
    assert genotype["inputs"]["height"] == 8  # the search's quick data (8x8 digits), not the 32x32 default
    # The search trained its best cell: an untrained export says where those weights are (it said nothing)
    trained = next(j.parent / "last.pt" for j in (run_dir / "retrain").glob("*/job.json")
                   if json.loads(j.read_text())["genotype"] == genotype["text"])
    assert f"add --weights {trained} to export those" in exported.stderr and genotype["weights"] is None
    # retrain.toml retrains from scratch, as its header says: no warm start from run records it lacks
    assert "warm_start" not in (tmp_path / "x" / "retrain.toml").read_text()
    # ... and says how many epochs the score it got in the search stood on (the chain of warm starts)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    parents = {q["genotype"]: q.get("parent") for q in reversed(history)}
    chain, node = 0, genotype["text"]
    while node in parents:
        chain, node = chain + 1, parents[node]
    said = f"after {chain} warm-started trainings of 1 epoch(s) along its lineage ({chain} epochs in all)"
    assert (said in (tmp_path / "x" / "retrain.toml").read_text()) is (chain > 1)
    assert (said in " ".join(exported.stderr.split())) is (chain > 1)
    with_weights = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "w"), "--weights", str(trained)])
    assert with_weights.exit_code == 0 and "untrained" not in with_weights.stderr, with_weights.output


def test_a_cost_metric_needs_a_direction_and_minimize_picks_the_lowest(tmp_path):
    """`blackbox.metric = "latency"` was maximised: the slowest cell came back as the best."""
    gnn = RECIPE.parent / "gnn-rea.toml"
    refused = CliRunner().invoke(main, ["search", str(gnn), "-p", "quick", "-q", "--run-dir", str(tmp_path / "a"),
                                        "--set", 'blackbox.metric="latency"'])
    assert refused.exit_code == 2 and "looks like a cost" in refused.output and 'blackbox.direction = "minimize"' in refused.output
    assert not (tmp_path / "a").exists()
    out = CliRunner().invoke(main, ["search", str(gnn), "-p", "quick", "-q", "--run-dir", str(tmp_path / "b"),
                                    "--set", 'blackbox.metric="latency"', "--set", 'blackbox.direction="minimize"'])
    assert out.exit_code == 0, out.output
    values = [json.loads(line)["value"] for line in (tmp_path / "b" / "history.jsonl").read_text().splitlines()]
    assert json.loads(out.stdout)["best_value"] == min(values) < max(values)


def test_export_of_a_search_that_kept_no_weights_says_so(tmp_path):
    """keep_weights = false deleted the trained weights: the export's network was untrained and
    nothing said the search had trained it."""
    macro = RECIPE.parent / "morphism-macro.toml"
    run_dir = tmp_path / "lean"
    out = CliRunner().invoke(main, ["search", str(macro), "-p", "quick", "-q", "--run-dir", str(run_dir),
                                    "--set", "blackbox.queries=1", "--set", "evaluator.warm_start=false",
                                    "--set", "evaluator.keep_weights=false"])
    assert out.exit_code == 0, out.output
    assert not list((run_dir / "retrain").glob("*/last.pt"))
    exported = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "x")])
    assert exported.exit_code == 0, exported.output
    said = " ".join(exported.stderr.split())
    assert "the run trained this genotype but did not keep its weights (keep_weights = false)" in said, said
