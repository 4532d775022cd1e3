"""The declared records: JSON round trips, readers of the previous schema version, damaged files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from automl_nas.errors import RunError
from automl_nas.records import SCHEMA_VERSION, EpochRecord, RunDir, RunResult

V1_EPOCH = {"epoch": 3, "lr": 0.02, "train_loss": 1.5, "train_acc": 40.0, "arch_loss": 1.6, "valid_acc": 38.5,
            "temperature": 7.5, "genotype": "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "param_free_ops": 1, "skip_fraction": 1.0, "entropy_cell": 1.6, "edge_entropy": {"cell": [1.6] * 6},
            "epoch_time_s": 2.0}
V1_RESULT = {"recipe": "gdas", "space": "nb201", "sampler": "gdas", "dataset": "digits", "seed": 0, "status": "finished",
             "genotype": V1_EPOCH["genotype"], "epochs": 4, "search_time_s": 8.0, "last_epoch": V1_EPOCH,
             "metrics": {"cifar10": 93.1}, "expected": {"metric": "cifar10", "paper": 93.61, "low": 93.3, "high": 93.9,
                                                         "source": "paper", "ours": 93.1, "inside": False},
             "wall_time_s": 9.0, "run_dir": "runs/gdas-1", "a_key_from_the_future": [1, 2]}


def test_epoch_record_reads_version_1_and_writes_the_current_version():
    rec = EpochRecord.from_json(V1_EPOCH)
    assert rec.schema_version == 1 and rec.sampler_status == {"temperature": 7.5} and rec.entropy == {"cell": 1.6}
    again = EpochRecord.from_json(rec.to_json())
    assert again == rec
    current = EpochRecord.from_json({**V1_EPOCH, "schema_version": SCHEMA_VERSION})
    assert current.to_json() == {**V1_EPOCH, "schema_version": SCHEMA_VERSION}  # same flat keys, same order of values


def test_epoch_record_refuses_a_status_key_that_would_shadow_a_field():
    with pytest.raises(ValueError, match="clash"):
        EpochRecord.from_json(V1_EPOCH).__class__(**{**vars_of(EpochRecord.from_json(V1_EPOCH)),
                                                       "sampler_status": {"valid_acc": 1.0}}).to_json()


def vars_of(rec):
    import attrs

    return attrs.asdict(rec, recurse=False)


def test_run_result_reads_version_1_tolerating_unknown_keys():
    res = RunResult.from_json(V1_RESULT)
    assert res.schema_version == 1 and res.expected.inside is False and res.metrics == {"cifar10": 93.1}
    out = res.to_json()
    assert "a_key_from_the_future" not in out and out["expected"]["paper"] == 93.61
    assert RunResult.from_json(out) == res


def test_a_cut_result_file_is_a_run_error_naming_it(tmp_path):
    from automl_nas.cli import main

    rd = RunDir(tmp_path)
    (tmp_path / "recipe.toml").write_text('name = "x"\n')
    rd.result_file.write_text(json.dumps(V1_RESULT)[:120])
    with pytest.raises(RunError, match="result.json: not a readable result record"):
        rd.read_result()
    shown = CliRunner().invoke(main, ["show", str(tmp_path)])
    assert shown.exit_code == 5 and "result.json" in shown.output and "Traceback" not in shown.output


def test_a_nan_metric_is_no_verdict_on_the_paper_band():
    from types import SimpleNamespace

    from automl_nas.engine.run import expected_check

    recipe = SimpleNamespace(expected=SimpleNamespace(metric="cifar10", value=93.0, low=92.0, high=94.0, source="paper", changed=()))
    assert expected_check(recipe, {"cifar10": 93.5}).inside is True
    assert expected_check(recipe, {"cifar10": 90.0}).inside is False
    assert expected_check(recipe, {"cifar10": float("nan")}).inside is None  # was False: "outside the band"
    assert expected_check(recipe, {}).inside is None


def test_damaged_or_edited_records_are_one_paragraph_for_show_and_plot(make_toy_recipe, tmp_path):
    """Undecodable bytes in metrics.jsonl, a string where a number was, `metrics = "oops"` and a
    directory named result.json were internal errors in `show`/`plot`; the fix for an unreadable
    result.json (`--resume`) failed the same way, since the resume reads it too."""
    import shutil

    from automl_nas.cli import main
    from automl_nas.session import resume_run, run_recipe_file

    recipe = make_toy_recipe(count=32)
    good = tmp_path / "good"
    run_recipe_file(recipe, quiet=True, run_dir=good)

    def copy(name):
        shutil.copytree(good, tmp_path / name)
        return tmp_path / name

    garbage = copy("garbage")
    with open(garbage / "metrics.jsonl", "ab") as fh:
        fh.write(b"\xff\xfegarbage\n")
    shown = CliRunner().invoke(main, ["show", str(garbage)])
    assert shown.exit_code == 0, shown.output  # the undecodable line is skipped like a cut one
    edited = copy("edited")
    lines = (edited / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["valid_acc"] = "high"
    (edited / "metrics.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    for command in ("show", "plot"):
        out = CliRunner().invoke(main, [command, str(edited)])
        assert out.exit_code == 5 and f"{edited}: its records could not be read" in out.output, (command, out.output)
    oops = copy("oops")
    result = json.loads((oops / "result.json").read_text())
    (oops / "result.json").write_text(json.dumps({**result, "metrics": "oops"}))
    out = CliRunner().invoke(main, ["show", str(oops)])
    assert out.exit_code == 5 and "internal error" not in out.output
    folder = copy("folder")
    (folder / "result.json").unlink()
    (folder / "result.json").mkdir()
    out = CliRunner().invoke(main, ["show", str(folder)])
    assert out.exit_code == 5 and "not a readable result record (IsADirectoryError" in out.output
    cut = copy("cut")
    (cut / "result.json").write_text("not json {")
    out = CliRunner().invoke(main, ["show", str(cut)])
    assert out.exit_code == 5 and f"mv {cut / 'result.json'} {cut / 'result.json'}.damaged" in out.output
    (cut / "result.json").rename(cut / "result.json.damaged")  # the fix as it says
    assert resume_run(cut, quiet=True)["status"] == "finished"


def test_show_puts_each_epoch_s_training_loss_beside_its_accuracy(make_toy_recipe, tmp_path):
    """A search whose loss grew (diverged) showed only its chance-level accuracy per epoch."""
    from automl_nas.cli import main
    from automl_nas.session import run_recipe_file

    run_recipe_file(make_toy_recipe(count=32), quiet=True, run_dir=tmp_path / "r")
    epochs = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "r")])
    for record in epochs:
        assert f"epoch {record['epoch'] + 1:>3}: loss {record['train_loss']:.4f}  valid" in shown.output, shown.output


def test_input_files_are_recorded_as_the_components_read_them(tmp_path, monkeypatch):
    """A data path given as `~/c.npz` was read by the data set and not recorded, so a changed file
    went unchecked on resume."""
    from types import SimpleNamespace

    from automl_nas.benchstore import file_sha256
    from automl_nas.records.input_files import input_files
    from automl_nas_data_vision.config import NpzConfig

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "c.npz").write_bytes(b"images")
    data = SimpleNamespace(config=NpzConfig(path="~/c.npz"), key="data")
    plan = SimpleNamespace(space=None, dataset=data, sampler=None, objectives=[], evaluator=None)
    assert input_files(plan) == {"data.path": {"path": "~/c.npz", "sha256": file_sha256(tmp_path / "c.npz")}}


def test_a_failed_write_s_hint_names_the_resume_that_continues_the_run(tmp_path, monkeypatch):
    """Before the first checkpoint there is nothing to continue (its --resume found no checkpoint);
    a torchrun rank's directory is continued by the torchrun line over rank 0's, not `automl run`."""
    from automl_nas.records.rundir import RunDir

    rank1 = RunDir(tmp_path / "D-rank1")
    (rank1.path / "checkpoints").mkdir(parents=True)
    assert "start the run again with a new --run-dir" in rank1.write_hint
    (rank1.path / "checkpoints" / "last.pt").write_bytes(b"state")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert f"torchrun --nproc-per-node 2 $(command -v automl) run --resume {tmp_path / 'D'}`" in rank1.write_hint
    search = RunDir(tmp_path / "S", resume="automl search --resume", continues_from="search.json")
    search.path.mkdir()
    (search.path / "search.json").write_text("{}")
    assert search.write_hint.endswith(f"continue with `automl search --resume {search.path}`")


def test_each_writer_has_its_own_temporary_file_and_a_killed_writer_s_is_removed(tmp_path):
    """Two processes writing one record shared NAME.tmp: one renamed the other's bytes, and the
    second rename failed as if the disk were full."""
    import os
    import subprocess
    import sys

    from automl_nas.records.rundir import replace_atomically

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    (tmp_path / f"r.json.{dead}.tmp").write_text("half")  # a writer killed mid-write
    (tmp_path / f"r.json.{os.getppid()}.tmp").write_text("writing")  # another process, writing now
    replace_atomically(tmp_path / "r.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", f"r.json.{os.getppid()}.tmp"]
    assert (tmp_path / "r.json").read_bytes() == b"{}"
