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
