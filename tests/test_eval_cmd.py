"""`automl eval`: genotype strings, run directories and recipe files; metrics JSON; resume; clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from automl_nas.cli import main

DRNAS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY_NET = "network={channels=4, cells_per_stage=1}"


def _blobs_npz(path: Path, n: int = 160) -> Path:
    """Four colour classes on 8x8 images: separable in a couple of epochs."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 4
    colours = np.array([[200, 50, 50], [50, 200, 50], [50, 50, 200], [190, 190, 60]])
    x = np.clip(colours[y][:, :, None, None] + rng.integers(-60, 61, (n, 3, 8, 8)), 0, 255).astype(np.uint8)
    np.savez(path, x=x, y=y)
    return path


def _data(npz: Path, test_fraction: float = 0.25) -> str:
    return f'{{name="npz", path={json.dumps(str(npz))}, test_fraction={test_fraction}}}'


def _eval(*args: str):
    return CliRunner().invoke(main, ["eval", *args])


def test_genotype_string_with_a_table_evaluator(tmp_path):
    table = tmp_path / "nb201.csv"
    table.write_text(f"arch,cifar10,cifar100\n{DRNAS_CELL},94.3633,73.5133\n")
    out = tmp_path / "m.json"
    result = _eval(DRNAS_CELL, "-e", "nb201-table", "--set", f"path={json.dumps(str(table))}", "--out", str(out),
                   "--work-dir", str(tmp_path / "wd"))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["space"] == "nb201" and printed["genotype"] == DRNAS_CELL  # space recognised from the text
    assert printed["metrics"] == {"cifar10": 94.3633, "cifar100": 73.5133}
    written = json.loads(out.read_text())
    assert written["metrics"] == printed["metrics"] and written["evaluator"] == "nb201-table"
    # a lookup with --out elsewhere leaves no empty work directory behind (runs/eval-<hash>/ did)
    assert not (tmp_path / "wd").exists() and written["work_dir"] is None


def test_metrics_that_cannot_be_written_name_the_out_file_not_a_run_to_resume(tmp_path, monkeypatch):
    import errno
    import os

    from automl_nas.records import rundir

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rundir.os, "fsync", disk_full)
    table = tmp_path / "nb201.csv"
    table.write_text(f"arch,cifar10\n{DRNAS_CELL},94.3633\n")
    out = tmp_path / "m.json"
    result = _eval(DRNAS_CELL, "-e", "nb201-table", "--set", f"path={json.dumps(str(table))}", "--out", str(out),
                   "--work-dir", str(tmp_path / "wd"))
    assert result.exit_code == 5 and f"{out}: cannot write (No space left on device)" in result.stderr
    assert "fix: pass a writable --out FILE, or free disk space there" in result.stderr and "--resume" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob("m.json*.tmp"))


@pytest.fixture
def tiny_run(tmp_path) -> Path:
    npz = _blobs_npz(tmp_path / "blobs.npz")
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(f"""
name = "tiny"
[space]
name = "nb201"
channels = 4
cells_per_stage = 1
[data]
name = "npz"
path = {json.dumps(str(npz))}
test_fraction = 0.25
batch_size = 32
[search]
epochs = 1
sampler = {{ name = "darts" }}
[run]
device = "cpu"
threads = 1
""")
    result = CliRunner().invoke(main, ["run", str(recipe), "--quiet", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def test_run_directory_retrains_its_genotype_and_resumes(tiny_run):
    args = [str(tiny_run), "-e", "retrain", "--set", "epochs=2", "--set", "batch_size=32", "--set", TINY_NET]
    first = _eval(*args)
    assert first.exit_code == 0, first.output
    metrics = json.loads(first.stdout)["metrics"]
    genotype = json.loads((tiny_run / "result.json").read_text())["genotype"]
    saved = json.loads((tiny_run / "eval-retrain.json").read_text())
    assert saved["genotype"] == genotype and saved["data"]["name"] == "npz" and saved["source"] == str(tiny_run)
    assert saved["data"]["test"] == 40 and metrics["epochs"] == 2.0
    assert "retrain epoch 2/2" in first.stderr
    again = _eval(*args)  # the finished job's checkpoint is found: nothing is trained twice
    assert again.exit_code == 0, again.output
    assert "was trained with these settings in" in again.stderr and "retrain epoch" not in again.stderr
    assert json.loads(again.stdout)["metrics"]["test_acc"] == metrics["test_acc"]


def test_a_data_set_without_test_split_is_a_data_error(tmp_path):
    npz = _blobs_npz(tmp_path / "b.npz", n=40)
    result = _eval(DRNAS_CELL, "-e", "retrain", "--data", _data(npz, 0.0), "--set", "epochs=1", "--set", TINY_NET,
                   "--work-dir", str(tmp_path / "wd"))
    assert result.exit_code == 4
    assert "data set 'npz' has no test split" in result.stderr and "test_fraction" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["-e", "retrian"], "unknown evaluator 'retrian'; did you mean 'retrain'?"),
    (["-e", "retrain", "--set", "epoch=3"], "evaluator.epoch: unknown key; did you mean 'epochs'?"),
    ([], "no evaluator given"),
])
def test_bad_names_and_keys_are_recipe_errors(args, message):
    result = _eval(DRNAS_CELL, "--check", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_genotypes_that_do_not_parse_are_recipe_errors():
    broken = DRNAS_CELL.replace("skip_connect~0", "skip_conect~0")
    result = _eval(broken, "--space", "nb201", "-e", "retrain", "--check")
    assert result.exit_code == 2
    assert "genotype: not a valid 'nb201' genotype" in result.stderr and "skip_conect" in result.stderr
    result = _eval(broken, "-e", "retrain", "--check")  # no --space: nothing recognises it
    assert result.exit_code == 2 and "no installed search space recognises" in result.stderr and "--space" in result.stderr


def test_a_run_without_a_genotype_is_a_run_error(tmp_path):
    from automl_nas.records.lock import directory_lock

    (tmp_path / "recipe.toml").write_text("name = 'x'\n")
    result = _eval(str(tmp_path), "-e", "retrain")
    assert result.exit_code == 5 and "the run has no genotype yet" in result.stderr
    assert f"finish the search first: automl run --resume {tmp_path}" in " ".join(result.stderr.split())
    with directory_lock(tmp_path, what="run"):  # the run is going: its --resume would be refused
        for command in (["eval", str(tmp_path), "-e", "retrain"], ["export", str(tmp_path), "--out", str(tmp_path / "x")]):
            going = CliRunner().invoke(main, command)
            text = " ".join(going.stderr.split())
            assert going.exit_code == 5 and "the run is still going and has no genotype yet" in text, text
            assert "--resume" not in text and f"wait for it to finish (`automl show {tmp_path}`" in text


def test_recipe_file_profile_and_overrides(tmp_path):
    recipe = tmp_path / "retrain.toml"
    text = (f'name = "r"\ngenotype = "{DRNAS_CELL}"\n[space]\nname = "nb201"\n[evaluator]\nname = "retrain"\n'
            '[profile.quick]\n"evaluator.epochs" = 1\n')
    recipe.write_text(text)
    result = _eval(str(recipe), "-p", "quick", "--check")  # what the evaluation itself refuses: it said ok
    assert result.exit_code == 4 and "retrain needs a data set to train on" in result.stderr, result.output
    recipe.write_text(text + '[data]\nname = "digits"\n')
    result = _eval(str(recipe), "-p", "quick", "--check")
    assert result.exit_code == 0 and "ok (retrain of nb201 genotype" in result.stdout
    assert "runs/eval-r" in result.stdout  # default work directory: run.root/eval-<name>
    result = _eval(str(recipe), "-p", "slow", "--check")
    assert result.exit_code == 2 and "--profile 'slow' is not defined" in result.stderr


def test_ctrl_c_keeps_finished_epochs_and_the_same_command_resumes(tmp_path, monkeypatch):
    from automl_nas_eval_retrain.trainer import Trainer

    npz = _blobs_npz(tmp_path / "b.npz")
    args = [DRNAS_CELL, "-e", "retrain", "--data", _data(npz), "--set", "epochs=3", "--set", "batch_size=32",
            "--set", TINY_NET, "--work-dir", str(tmp_path / "wd")]
    real_epoch = Trainer.train_epoch

    def interrupted_at_second(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(self, epoch)

    def interrupted_at_first(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", interrupted_at_first)
    early = _eval(*args)  # said "finished epochs are kept" and left an empty work directory
    assert early.exit_code == 130 and "stopped before a first checkpoint" in early.stderr, early.output
    assert "run the same command again to start it" in " ".join(early.stderr.split())
    assert not (tmp_path / "wd").exists()
    nested = _eval(*args[:-1], str(tmp_path / "runs" / "evals" / "wd"))  # the default's run.root, not there yet
    assert nested.exit_code == 130 and not (tmp_path / "runs").exists()  # it left runs/evals/, empty
    (tmp_path / "wd" / "checkpoints").mkdir(parents=True)  # a run directory: the search's own checkpoint
    (tmp_path / "wd" / "checkpoints" / "last.pt").write_bytes(b"search")
    (tmp_path / "wd" / "recipe.toml").write_text("name = 'x'\n")
    early = _eval(*args)
    assert early.exit_code == 130 and "stopped before a first checkpoint" in early.stderr, early.output
    for name in ("checkpoints/last.pt", "recipe.toml"):
        (tmp_path / "wd" / name).unlink()
    monkeypatch.setattr(Trainer, "train_epoch", interrupted_at_second)
    stopped = _eval(*args)
    assert stopped.exit_code == 130 and "run the same command again to resume" in stopped.stderr
    assert "are kept in" in stopped.stderr
    monkeypatch.setattr(Trainer, "train_epoch", interrupted_at_first)
    again = _eval(*args)  # resumed after epoch 1, stopped at once: the kept epoch is still there
    text = " ".join(again.stderr.split())
    assert again.exit_code == 130 and "stopped before this evaluation wrote a checkpoint; the earlier checkpoints" in text
    assert "it resumes from its own checkpoint if it has one" in text and "nothing was kept" not in text
    other = _eval(*["epochs=4" if a == "epochs=3" else a for a in args])  # another job in the same work directory
    assert other.exit_code == 130 and "are kept in" not in other.stderr  # its epoch is not this job's
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    resumed = _eval(*args)
    assert resumed.exit_code == 0, resumed.output
    assert "after epoch 1/3" in resumed.stderr and "retrain epoch 1/3" not in resumed.stderr
    assert "retrain epoch 3/3" in resumed.stderr


def test_evaluations_of_a_run_keep_each_other_and_the_run_s_own_files(tmp_path):
    from tests.test_bad_inputs import snapshot

    table = tmp_path / "nb201.csv"
    table.write_text(f"arch,cifar10,cifar100\n{DRNAS_CELL},94.3633,73.5133\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "recipe.toml").write_text("name = 'x'\n")
    (run_dir / "result.json").write_text(json.dumps({"status": "finished", "genotype": DRNAS_CELL}))
    before = snapshot(run_dir)
    table_set = f"path={json.dumps(str(table))}"
    over = _eval(DRNAS_CELL, "-e", "nb201-table", "--set", table_set, "--out", str(run_dir / "result.json"))
    assert over.exit_code == 5 and "is not an `automl eval` record; it is left as it is" in over.output
    assert snapshot(run_dir) == before

    def scored(*extra):
        result = _eval(DRNAS_CELL, "-e", "nb201-table", "--set", table_set, "--work-dir", str(run_dir), "-q", *extra)
        assert result.exit_code == 0, result.output
        return Path(json.loads(result.stdout)["out"]).name

    assert scored() == "eval-nb201-table.json"
    assert scored("--set", "dataset=cifar100") == "eval-nb201-table-2.json"  # another evaluation: both kept
    assert scored() == "eval-nb201-table.json"  # the same one again rewrites its own file
    assert json.loads((run_dir / "eval-nb201-table-2.json").read_text())["metrics"] == {"cifar100": 73.5133}
    assert json.loads((run_dir / "eval-nb201-table.json").read_text())["metrics"]["cifar10"] == 94.3633


def test_a_refused_evaluation_leaves_no_work_directory(tmp_path):
    table = tmp_path / "nb201.csv"
    table.write_text(f"arch,cifar10\n{DRNAS_CELL},94.3633\n")
    work = tmp_path / "wd"
    result = _eval("link=[0,0,1,2] ops=[gcn,gat,sage,fc]", "-e", "nb201-table", "--work-dir", str(work),
                   "--set", f"path={json.dumps(str(table))}")  # a graph genotype: the table refuses it
    # refused by Evaluator.check before the work directory (it was the lookup's DataError)
    assert result.exit_code == 2 and "looks up NAS-Bench-201 cells, and the space is 'gnn'" in result.output, result.output
    assert not work.exists()


def test_eval_of_a_run_whose_own_evaluation_failed_completes_its_result(tmp_path):
    from automl_nas.records import RunDir

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"
    partial = tmp_path / "partial.csv"
    partial.write_text(f"arch,cifar10\n{DRNAS_CELL},94.3633\n")  # the table lacks the cell the search finds
    run_dir = tmp_path / "run"
    ran = CliRunner().invoke(main, ["run", str(recipe), "-p", "quick", "-q", "--run-dir", str(run_dir), "--set",
                                    f"evaluator={{name=\"nb201-table\", path={json.dumps(str(partial))}}}"])
    assert ran.exit_code == 0, ran.output
    failed = RunDir(run_dir).read_result()
    assert failed.eval_error and failed.metrics is None and failed.expected.inside is None
    full = tmp_path / "full.csv"
    full.write_text(f"arch,cifar10\n{DRNAS_CELL},94.3633\n{failed.genotype},92.5\n")
    scored = _eval(str(run_dir), "--set", f"path={json.dumps(str(full))}", "-q")
    assert scored.exit_code == 0, scored.output
    done = RunDir(run_dir).read_result()
    assert done.metrics == {"cifar10": 92.5} and done.eval_error is None and done.eval_retry is None
    # SNAS' band is 92.77 +- 1, but the run is -p quick's (digits, 4 epochs): not the paper's protocol, no verdict
    assert done.expected.ours == 92.5 and done.expected.inside is None and "search.epochs" in done.expected.changed
    assert done.eval_record == str(run_dir / "eval-nb201-table.json") and done.genotype == failed.genotype
    shown = CliRunner().invoke(main, ["show", str(run_dir)]).output
    assert "failed" not in shown and "-> n/a (not the paper's protocol: " in shown and "by `automl eval` after the search" in shown
    other = _eval(str(run_dir), "-e", "nb201-table", "--set", f"path={json.dumps(str(full))}", "--set",
                  "metrics=['cifar10']", "-q")
    assert other.exit_code == 0 and RunDir(run_dir).read_result() == done  # nothing left to complete


def test_an_empty_target_is_a_usage_error_not_the_working_directory():
    result = _eval("")
    assert result.exit_code == 2 and "TARGET is empty" in result.output and "not a run directory" not in result.output


def test_two_evaluations_that_take_the_default_name_at_once_keep_both_records(tmp_path, monkeypatch):
    """Two `automl eval` of one run with other seeds, started together: both found eval-synflow.json
    free, one record was lost, and the other writer failed on the shared temporary file ("cannot
    write (No such file or directory)", a disk problem it was not)."""
    import json

    from automl_nas.records.rundir import atomic_write_json
    from automl_nas.standalone import evaluate

    mine = {"evaluator": "synflow", "metrics": {"synflow": 1.0}, "seed": 1, "genotype": "g"}
    theirs = {**mine, "seed": 2, "metrics": {"synflow": 2.0}}
    real = evaluate._claimed

    def the_other_claims_it_first(path, text):
        if path.name == "eval-synflow.json" and not path.exists():
            atomic_write_json(path, theirs)  # between this evaluation's look and its claim
        return real(path, text)

    monkeypatch.setattr(evaluate, "_claimed", the_other_claims_it_first)
    out = evaluate._default_out(tmp_path, "synflow", mine)
    assert out.name == "eval-synflow-2.json" and json.loads((tmp_path / "eval-synflow.json").read_text()) == theirs
    assert json.loads(out.read_text())["seed"] == 1  # claimed whole, before the record is written over it
    assert evaluate._default_out(tmp_path, "synflow", mine) == out  # the same evaluation again: its own file
    assert not list(tmp_path.glob(".*claim")) and not list(tmp_path.glob("*.tmp"))


def test_a_dangling_link_on_the_default_name_is_kept_and_the_next_name_taken(tmp_path):
    """The link's target is missing, so the name looked free to exists() while the claim's hard
    link found it taken: the evaluation looked at the same name again, for good, at full CPU."""
    import threading

    from automl_nas.standalone import evaluate

    (tmp_path / "eval-synflow.json").symlink_to(tmp_path / "nowhere.json")
    mine = {"evaluator": "synflow", "metrics": {"synflow": 1.0}, "seed": 1, "genotype": "g"}
    found = []
    worker = threading.Thread(target=lambda: found.append(evaluate._default_out(tmp_path, "synflow", mine)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert found == [tmp_path / "eval-synflow-2.json"] and (tmp_path / "eval-synflow.json").is_symlink()
