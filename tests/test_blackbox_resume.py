"""`automl search --resume RUN_DIR` continues an interrupted black-box search: the recorded queries
are replayed into the proposer, and the search ends as the uninterrupted one (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl_nas.cli import main

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "morphism-nb201.toml"


def _history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("proposer", ["morphism", "rea"])
def test_an_interrupted_search_resumes_to_the_same_result(tmp_path, proposer):
    runner = CliRunner()
    args = ["search", str(RECIPE), "-p", "quick", "-q", "--set", f"blackbox.proposer.name='{proposer}'"]
    whole = json.loads(runner.invoke(main, [*args, "--run-dir", str(tmp_path / "whole")]).stdout)
    cut = tmp_path / "cut"
    assert runner.invoke(main, [*args, "--run-dir", str(cut)]).exit_code == 0
    lines = (cut / "history.jsonl").read_text().splitlines(keepends=True)
    (cut / "history.jsonl").write_text("".join(lines[:7]))  # as if stopped after 7 of 20 queries
    (cut / "result.json").unlink()
    out = runner.invoke(main, ["search", "--resume", str(cut), "-q"])
    assert out.exit_code == 0, out.output
    resumed = json.loads(out.stdout)
    assert [h["genotype"] for h in _history(cut)] == [h["genotype"] for h in _history(tmp_path / "whole")]
    assert resumed["best_genotype"] == whole["best_genotype"] and resumed["queries"] == whole["queries"] == 20


def test_resume_refuses_a_recipe_or_a_directory_without_a_search(tmp_path):
    runner = CliRunner()
    both = runner.invoke(main, ["search", str(RECIPE), "--resume", str(tmp_path)])
    assert both.exit_code == 2 and "--resume RUN_DIR alone" in both.output
    empty = runner.invoke(main, ["search", "--resume", str(tmp_path)])
    assert empty.exit_code != 0 and "search.json is missing" in empty.output


def test_a_full_disk_mid_search_names_automl_search_resume_which_then_finishes(tmp_path, monkeypatch):
    import builtins
    import errno
    import os

    from automl_nas.records import rundir

    appended = []

    def open_on_a_filling_disk(file, mode="r", *args, **kwargs):
        if Path(file).name == "history.jsonl" and "a" in mode:
            appended.append(file)
            if len(appended) > 5:  # the sixth query's record no longer fits
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(rundir, "open", open_on_a_filling_disk, raising=False)
    cut = tmp_path / "cut"
    out = CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(cut)])
    assert out.exit_code == 5 and f"{cut / 'history.jsonl'}: cannot write (No space left on device)" in out.stderr
    assert f"continue with `automl search --resume {cut}`" in " ".join(out.stderr.split())  # not `automl run`
    monkeypatch.undo()
    resumed = CliRunner().invoke(main, ["search", "--resume", str(cut), "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["queries"] == 20 and len(_history(cut)) == 20


def _stopped_after(tmp_path: Path, kept: int, *, cut: str = "") -> Path:
    """A finished quick search made to look stopped after ``kept`` queries (+ a line ``cut`` short)."""
    run_dir = tmp_path / "cut"
    assert CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(run_dir)]).exit_code == 0
    lines = (run_dir / "history.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "history.jsonl").write_text("".join(lines[:kept]) + cut)
    (run_dir / "result.json").unlink()
    return run_dir


def test_a_record_cut_by_a_crash_is_dropped_and_its_query_asked_again(tmp_path):
    whole = tmp_path / "whole"
    assert CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(whole)]).exit_code == 0
    eighth = (whole / "history.jsonl").read_text().splitlines()[7]
    run_dir = _stopped_after(tmp_path, 7, cut=eighth[: len(eighth) // 2])  # killed while writing the 8th
    out = CliRunner().invoke(main, ["search", "--resume", str(run_dir), "-q"])
    assert out.exit_code == 0, out.output
    assert _history(run_dir) == [{**h, "time_s": r["time_s"]} for h, r in zip(_history(whole), _history(run_dir))]


def test_a_resumed_search_goes_on_spending_the_wall_clock_budget_it_had_spent(tmp_path):
    run_dir = _stopped_after(tmp_path, 7)
    search = json.loads((run_dir / "search.json").read_text())
    search["overrides"] = ["blackbox.queries=0", "blackbox.seconds=5"]  # a 5 s budget ...
    (run_dir / "search.json").write_text(json.dumps(search))
    history = _history(run_dir)
    history[-1]["time_s"] = 5.5  # ... spent when the search stopped
    (run_dir / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    out = CliRunner().invoke(main, ["search", "--resume", str(run_dir), "-q"])
    assert out.exit_code == 0, out.output
    result = json.loads((run_dir / "result.json").read_text())
    assert result["queries"] == 7 and result["seconds"] >= 5.5
    finished = (run_dir / "result.json").read_bytes()
    again = CliRunner().invoke(main, ["search", "--resume", str(run_dir)])
    assert again.exit_code == 0 and "is a finished search; nothing to resume" in again.stderr
    assert (run_dir / "result.json").read_bytes() == finished


def test_ctrl_c_keeps_the_queries_and_names_search_resume(tmp_path, monkeypatch):
    from automl_nas.study import blackbox

    real, calls = blackbox._score, []

    def interrupted_at_the_sixth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(blackbox, "_score", interrupted_at_the_sixth)
    run_dir = tmp_path / "stopped"
    out = CliRunner().invoke(main, ["search", str(RECIPE), "-p", "quick", "-q", "--run-dir", str(run_dir)])
    assert out.exit_code == 130 and "search stopped after 5 queries" in out.stderr
    assert f"fix: continue with `automl search --resume {run_dir}`" in out.stderr
    stopped = json.loads(out.stdout)  # stdout still carries the summary of what is kept, as for `automl run`
    kept = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert stopped["status"] == "interrupted" and stopped["queries"] == 5 and stopped["run_dir"] == str(run_dir)
    assert stopped["best_value"] == max(e["value"] for e in kept)
    assert stopped["best_genotype"] == next(e["genotype"] for e in kept if e["value"] == stopped["best_value"])
    monkeypatch.undo()
    resumed = CliRunner().invoke(main, ["search", "--resume", str(run_dir), "-q"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["queries"] == 20


def test_a_training_evaluator_s_progress_keeps_off_stdout(tmp_path):
    recipe = RECIPE.parent / "morphism-macro.toml"
    out = CliRunner().invoke(main, ["search", str(recipe), "-p", "quick", "--run-dir", str(tmp_path / "m"),
                                    "--set", "blackbox.queries=2"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["queries"] == 2  # the JSON summary alone
    assert "retrain epoch 1/1" in out.stderr


def test_a_search_refused_before_its_first_query_leaves_no_directory(tmp_path):
    """A table that does not cover the space's ops left recipe.toml, search.json and checkpoints/:
    `--resume` failed the same way every time (it refuses --set) and the --run-dir was "used"."""
    gnn = RECIPE.parent / "gnn-rea.toml"
    run_dir = tmp_path / "prot"
    out = CliRunner().invoke(main, ["search", str(gnn), "-q", "--run-dir", str(run_dir),
                                    "--set", 'evaluator.dataset="proteins"'])
    assert out.exit_code == 2 and "covers only the ops" in out.output  # a recipe error, found at plan time
    assert not run_dir.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    out = CliRunner().invoke(main, ["search", str(gnn), "-q", "--run-dir", str(mine), "--set", 'evaluator.dataset="proteins"'])
    assert out.exit_code == 2 and mine.is_dir() and not list(mine.iterdir())  # the user's directory stays, empty
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 cut short")
    macro = RECIPE.parent / "morphism-macro.toml"
    out = CliRunner().invoke(main, ["search", str(macro), "-p", "quick", "-q", "--run-dir", str(tmp_path / "m"),
                                    "--set", f'data={{name="npz", path="{bad}"}}'])
    assert out.exit_code == 4 and not (tmp_path / "m").exists()


def test_a_search_without_a_budget_is_refused_by_validate(tmp_path):
    out = CliRunner().invoke(main, ["validate", str(RECIPE), "--set", "blackbox.queries=0"])
    assert out.exit_code == 2 and f"{RECIPE}: blackbox: no budget" in out.output and "blackbox.seconds" in out.output


def _registry_parts():
    from automl_nas.api.evaluator import EvalContext
    from automl_nas.session import open_session

    registry = open_session().registry
    space = registry.create("search_space", "nb201")
    evaluator = registry.create("evaluator", "analog-nasbench")
    return registry, space, evaluator, EvalContext(space=space)


def test_evaluations_told_out_of_ask_order_are_replayed_in_their_interleaving():
    """Parallel evaluations end in any order: a search whose queries were told out of ask order
    (as on Ray) must replay to the proposer's very state, including proposals still in flight."""
    from automl_nas.study.blackbox import _Loop, _replay

    registry, space, evaluator, ctx = _registry_parts()
    live = registry.create("proposer", "rea")
    live.setup(space, 3)
    loop = _Loop(40, 0.0, None, 1.0, metric="cifar10_analog")
    inflight = []  # (ask index, genotype), told last-asked-first: the order parallel workers may end in
    for _ in range(12):
        while len(inflight) < 3:
            inflight.append((loop.asks, live.ask()))
            loop.asks += 1
        index, genotype = inflight.pop()
        value = evaluator.evaluate(genotype, ctx)["cifar10_analog"]
        live.tell(genotype, value)
        loop.record(genotype, {"cifar10_analog": value}, asked=index, asks=loop.asks)
    assert any(h["asked"] != h["query"] for h in loop.history)
    entries = json.loads(json.dumps(loop.history))  # as history.jsonl holds them

    again = registry.create("proposer", "rea")
    again.setup(space, 3)
    resumed = _Loop(40, 0.0, None, 1.0, metric="cifar10_analog")
    outstanding = _replay(resumed, again, entries)
    assert [(i, g.text) for i, g in outstanding] == [(i, g.text) for i, g in sorted(inflight)]
    assert resumed.asks == loop.asks and resumed.best == loop.best
    assert [again.ask().text for _ in range(5)] == [live.ask().text for _ in range(5)]  # the same state


def test_a_nan_value_names_the_directory_to_resume_or_says_none_was_kept(tmp_path):
    """The fix said `automl search --resume DIR` (no directory named), and promised kept queries
    when the very first query was the NaN one and the directory had been removed."""
    import itertools

    from click.testing import CliRunner

    from automl_nas.cli import main

    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    rows = ["arch,cifar10"]
    for n, o in enumerate(itertools.product(ops, repeat=6)):
        cell = f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"
        rows.append(f"{cell},{'' if n % 2 else 50 + n % 40}")  # every other cell without a value
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "s.toml").write_text(f'name = "nan"\n[space]\nname = "nb201"\n[evaluator]\nname = "nb201-table"\n'
                                     f'path = "{tmp_path / "t.csv"}"\n[blackbox]\nproposer = {{ name = "random" }}\n'
                                     f'queries = 30\nmetric = "cifar10"\n[run]\nroot = "{tmp_path / "runs"}"\n')
    endings = set()
    for seed in range(8):
        result = CliRunner().invoke(main, ["search", str(tmp_path / "s.toml"), "-q", "--set", f"seed={seed}"])
        text = " ".join(result.output.split())
        assert result.exit_code == 4 and "gave cifar10 = nan" in text and "--resume DIR" not in text, text
        kept = sorted((tmp_path / "runs").glob("nan-blackbox-*")) if (tmp_path / "runs").exists() else []
        if "no query had finished, so the search kept no directory" in text:
            endings.add("none")
        else:
            assert f"`automl search --resume {kept[-1]}` continues from them" in text, text
            endings.add("kept")
    assert endings == {"none", "kept"}  # both seen among the seeds


def test_a_damaged_search_json_is_named_not_an_internal_error(tmp_path):
    from click.testing import CliRunner

    from automl_nas.cli import main

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "gnn-rea.toml"
    run = tmp_path / "s"
    assert CliRunner().invoke(main, ["search", str(recipe), "-p", "quick", "-q", "--run-dir", str(run)]).exit_code == 0
    (run / "search.json").write_text('{"profile": "qu')
    export = CliRunner().invoke(main, ["export", str(run), "--out", str(tmp_path / "x")])
    (run / "result.json").unlink()  # as if it had stopped before its end
    resumed = CliRunner().invoke(main, ["search", "--resume", str(run)])
    for result in (export, resumed):
        text = " ".join(result.output.split())
        assert result.exit_code == 5 and f"{run / 'search.json'}: not a readable record" in text, text
        assert "internal error" not in text and '{"profile": "quick", "overrides": []}' in text


def test_the_progress_eta_comes_from_the_search_s_own_clock():
    """After a resume, the time spent replaying the history was charged to the first new query:
    `query 187/3000 ETA 3h06m` where the search had shown 0m59s."""
    from automl_nas.study.blackbox import _progress_of

    assert _progress_of({"query": 185, "time_s": 18.6}, 3000) == " 186/3000 ETA 4m41s"
    assert _progress_of({"query": 3, "time_s": 2.0}, 0) == "   4"  # a time budget only: no total


def _table(path: Path, value) -> Path:
    import itertools

    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    rows = ["arch,score"]
    for o in itertools.product(ops, repeat=6):
        rows.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|,{value(o)}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_search_with_infinite_scores_resumes_to_the_same_result(tmp_path, monkeypatch):
    """NASWOT scores a cell whose units never differ -inf, which history.jsonl holds as null: the
    resume stopped with an internal error (float * None)."""
    import math

    from automl_nas_eval_tabular.table import Nb201Table

    looked_up = Nb201Table.evaluate

    def naswot_like(self, genotype, ctx=None):  # a table holds finite numbers: -inf as NASWOT gives it
        metrics = looked_up(self, genotype, ctx)
        worst = {"score": -math.inf, "rep": math.inf}
        return {**metrics, **worst} if genotype.text.count("none") >= 4 else metrics

    monkeypatch.setattr(Nb201Table, "evaluate", naswot_like)
    table = _table(tmp_path / "t.csv", lambda o: 50 + 2 * o.count("nor_conv_3x3") + o.count("nor_conv_1x1"))
    table.write_text("\n".join(line + ("," + line.rsplit(",", 1)[1] if i else ",rep")
                               for i, line in enumerate(table.read_text().splitlines())) + "\n")
    recipe = tmp_path / "s.toml"
    recipe.write_text(f'name = "inf"\nseed = 2\n[space]\nname = "nb201"\n[evaluator]\nname = "nb201-table"\n'
                      f'path = "{table}"\n[blackbox]\nproposer = {{ name = "morphism" }}\nqueries = 16\nmetric = "score"\n'
                      f'report = "rep"\n')
    runner = CliRunner()
    whole = runner.invoke(main, ["search", str(recipe), "-q", "--run-dir", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    records = _history(tmp_path / "whole")
    assert records[0]["value"] is None and records[0]["value_nonfinite"] == "-inf"  # the all-none start
    assert records[0]["report"] is None and records[0]["report_nonfinite"] == "inf"
    cut = tmp_path / "cut"
    assert runner.invoke(main, ["search", str(recipe), "-q", "--run-dir", str(cut)]).exit_code == 0
    lines = (cut / "history.jsonl").read_text().splitlines(keepends=True)
    (cut / "history.jsonl").write_text("".join(lines[:5]))
    (cut / "result.json").unlink()
    out = runner.invoke(main, ["search", "--resume", str(cut), "-q"])
    assert out.exit_code == 0, out.output
    strip = [{k: v for k, v in h.items() if k != "time_s"} for h in _history(cut)]
    assert strip == [{k: v for k, v in h.items() if k != "time_s"} for h in records]
    assert json.loads(out.stdout)["best_genotype"] == json.loads(whole.stdout)["best_genotype"]


def test_a_cost_the_table_lists_first_is_not_maximised_unasked(tmp_path):
    """A table whose first column is a latency: the search took the table's default (higher is
    better) and returned the slowest cell it had seen as the best."""
    table = _table(tmp_path / "lat.csv", lambda o: 1 + 2 * o.count("nor_conv_3x3"))
    table.write_text(table.read_text().replace("arch,score", "arch,latency", 1))
    recipe = tmp_path / "s.toml"
    recipe.write_text(f'name = "lat"\n[space]\nname = "nb201"\n[evaluator]\nname = "nb201-table"\npath = "{table}"\n'
                      f'[blackbox]\nproposer = {{ name = "random" }}\nqueries = 10\n[run]\nroot = "{tmp_path / "runs"}"\n')
    for command in (["validate", "--build", str(recipe)], ["search", str(recipe), "-q"]):
        refused = CliRunner().invoke(main, command)
        text = " ".join(refused.output.split())
        assert refused.exit_code == 2, text
        assert "blackbox.metric (unset: the evaluator's first metric, 'latency') looks like a cost" in text
        assert 'blackbox.direction = "minimize"' in text
    assert not (tmp_path / "runs").exists()
    out = CliRunner().invoke(main, ["search", str(recipe), "-q", "--set", 'blackbox.direction="minimize"'])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["best_value"] == min(h["value"] for h in _history(next((tmp_path / "runs").iterdir())))
