"""Records and CLI output are JSON every parser reads: a non-finite number is null, read back as NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl_nas.cli import main
from automl_nas.records import EpochRecord, RunDir, RunResult
from automl_nas.records.strict_json import dumps


def strict(text: str):
    """``json.loads`` as JavaScript's JSON.parse reads: NaN, Infinity and -Infinity are errors."""
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth_and_through_the_converter():
    import numpy as np

    data = {"a": math.nan, "b": [1.5, math.inf, (-math.inf, 2)], "c": {"d": np.array([0.5, np.nan])}, "e": "NaN"}
    out = strict(dumps(data, default=lambda v: v.tolist()))
    assert out == {"a": None, "b": [1.5, None, [None, 2]], "c": {"d": [0.5, None]}, "e": "NaN"}
    with pytest.raises(ValueError, match="not JSON"):
        strict(json.dumps(data["a"]))  # what Python's json writes, and the parser above refuses


def test_result_and_epoch_records_write_null_and_read_back_nan(tmp_path):
    rd = RunDir(tmp_path)
    rd.write_result(RunResult(recipe="r", space="s", sampler="x", dataset="d", seed=0, status="finished",
                              metrics={"cifar10": math.nan, "synflow": math.inf, "ok": 1.0}, costs={"flops": -math.inf}))
    raw = strict(rd.result_file.read_text())
    assert raw["metrics"] == {"cifar10": None, "synflow": None, "ok": 1.0} and raw["costs"] == {"flops": None}
    back = RunResult.from_json(raw)
    assert math.isnan(back.metrics["cifar10"]) and math.isnan(back.metrics["synflow"]) and back.metrics["ok"] == 1.0
    assert math.isnan(back.costs["flops"])

    record = EpochRecord(epoch=0, lr=0.1, train_loss=0.5, train_acc=50.0, valid_acc=math.nan, genotype="g",
                         epoch_time_s=1.0, entropy={"cell": math.inf}, eval={"cifar10": math.nan})
    rd.append_jsonl(rd.metrics_file, record.to_json())
    line = strict(rd.metrics_file.read_text())
    assert line["valid_acc"] is None and line["entropy_cell"] is None and line["eval"] == {"cifar10": None}
    read = EpochRecord.from_json(line)
    assert math.isnan(read.valid_acc) and math.isnan(read.entropy["cell"]) and math.isnan(read.eval["cifar10"])
    assert read.train_loss == 0.5


@pytest.fixture
def nan_scores(monkeypatch):
    """The toy evaluator scores every cell NaN (as an imported table's empty field does)."""
    from automl_nas_toy.space import CountConvs

    monkeypatch.setattr(CountConvs, "evaluate", lambda self, genotype, ctx: {"convs": math.nan})


def test_a_nan_metric_leaves_strict_json_in_the_run_and_on_stdout(make_toy_recipe, nan_scores):
    path = make_toy_recipe(count=32)
    ran = CliRunner().invoke(main, ["run", str(path), "--set", "search.epochs=1", "-q"])
    assert ran.exit_code == 0, ran.output
    printed = strict(ran.stdout[ran.stdout.index("{"):])
    run_dir = printed["run_dir"]
    on_disk = strict((tmp := Path(run_dir) / "result.json").read_text())
    assert on_disk["status"] == "finished" and on_disk["metrics"] == {"convs": None}, tmp
    for line in (tmp.parent / "metrics.jsonl").read_text().splitlines():
        strict(line)
    shown = CliRunner().invoke(main, ["show", run_dir, "--json"])
    assert shown.exit_code == 0 and strict(shown.stdout)["result"]["metrics"] == {"convs": None}, shown.output


def test_a_study_whose_metric_has_no_finite_value_fails_its_trials_and_stops(make_toy_recipe, nan_scores):
    import optuna

    tail = ('\n[study]\nname = "s"\ntrials = 2\npruner = "none"\nsampler = "random"\nmetric = "metrics.convs"\n'
            '[study.params]\n"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }\n')
    path = make_toy_recipe(count=32, tail=tail)
    result = CliRunner().invoke(main, ["study", str(path), "-q"])
    # Optuna failed such trials quietly and the driver asked for more, without end.
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "2 trials failed; last error: study.metric metrics.convs has no finite value" in result.output, result.output
    summary = strict(result.stdout)  # what the study holds, as a Ctrl-C prints it (stdout was empty)
    assert (summary["status"], summary["study"], summary["trials"], summary["best"]) == ("failed", "s", 0, [])
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{path.parent / 'runs' / 'studies' / 's' / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert all("no finite value" in t.user_attrs["error"] for t in study.trials)
