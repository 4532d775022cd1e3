"""Nothing lost: SIGKILL + resume equals an uninterrupted run; SIGTERM; NaN; bad resume targets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl_nas import hookimpl
from automl_nas.cli import main

SLOW_TOY = """
name = "toy-long"
seed = 3
[space]
name = "toy"
channels = 8
[data]
name = "toy-blobs"
count = 1600
batch_size = 8
[search]
epochs = 4
[search.sampler]
name = "toy-softmax"
[evaluator]
name = "toy-count"
"""


def automl(*args, **kw):
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny nets: threads only add contention
    return subprocess.Popen([sys.executable, "-m", "automl_nas.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


def epochs_recorded(run_dir: Path) -> int:
    f = run_dir / "metrics.jsonl"
    return len(f.read_text().splitlines()) if f.exists() else 0


def wait_for(pred, timeout=120):
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def slow_recipe(tmp_path):
    p = tmp_path / "slow.toml"
    p.write_text(SLOW_TOY)
    return p


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(slow_recipe, tmp_path):
    full = automl("run", str(slow_recipe), "-q", "--run-dir", str(tmp_path / "full"))
    assert full.wait(timeout=300) == 0, full.stderr.read()
    killed_dir = tmp_path / "killed"
    proc = automl("run", str(slow_recipe), "-q", "--run-dir", str(killed_dir))
    wait_for(lambda: epochs_recorded(killed_dir) >= 2)
    time.sleep(0.2)  # inside epoch 3
    proc.kill()
    proc.wait()
    assert not (killed_dir / "result.json").exists()
    resumed = automl("run", "--resume", str(killed_dir), "-q")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = json.loads((tmp_path / "full" / "result.json").read_text())
    b = json.loads((killed_dir / "result.json").read_text())
    assert a["genotype"] == b["genotype"]
    assert a["last_epoch"]["train_loss"] == b["last_epoch"]["train_loss"]
    assert a["last_epoch"]["valid_acc"] == b["last_epoch"]["valid_acc"]
    ha = (tmp_path / "full" / "arch_history.jsonl").read_text().splitlines()
    hb = (killed_dir / "arch_history.jsonl").read_text().splitlines()
    assert [json.loads(x)["params"] for x in ha] == [json.loads(x)["params"] for x in hb]


def test_sigterm_writes_checkpoint_and_interrupted_result(slow_recipe, tmp_path):
    run_dir = tmp_path / "term"
    proc = automl("run", str(slow_recipe), "-q", "--run-dir", str(run_dir))
    wait_for(lambda: epochs_recorded(run_dir) >= 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "interrupted" and result["epochs_done"] >= 1
    assert (run_dir / "checkpoints" / "last.pt").exists()
    assert "resume with `automl run --resume" in proc.stderr.read()


def test_nan_stops_with_step_and_keeps_checkpoint(toy_recipe):
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "-q", "--set", "search.epochs=3",
                                       "--set", "search.weights_optimizer.lr=1e38", "--set", "search.weights_optimizer.grad_clip=0.0"])
    assert result.exit_code == 5, result.output
    assert "non-finite" in result.output and "at epoch" in result.output and "step" in result.output
    run_dir = next((toy_recipe.parent / "runs").iterdir())
    res = json.loads((run_dir / "result.json").read_text())
    assert res["status"] == "failed"


def test_resume_of_a_non_run_directory(tmp_path):
    result = CliRunner().invoke(main, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 5 and "is not a run directory" in result.output


class _FailsAtEpochOne:
    """A third-party plugin whose lifecycle hook raises in the middle of a run."""

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics):
        if epoch == 1:
            raise KeyError("metrics['valid_acc'] missing in my dashboard")


def test_plugin_raising_mid_run_is_named_and_loses_no_finished_epoch(make_toy_recipe):
    from automl_nas.errors import PluginError
    from automl_nas.session import resume_run, run_recipe_file

    recipe = make_toy_recipe(count=32)
    with pytest.raises(PluginError) as info:
        run_recipe_file(recipe, overrides=["search.epochs=3"], quiet=True, extra_plugins=[(_FailsAtEpochOne(), "dashboard")])
    err = info.value
    assert err.plugin == "dashboard" and "automl_epoch_end at epoch 1" in err.message and "KeyError" in err.message
    assert "AUTOML_NAS_DISABLE_PLUGINS=dashboard" in err.hint
    run_dir = next((recipe.parent / "runs").iterdir())
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs[:2] == [0, 1]  # both finished epochs were written before the hook ran
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed" and "dashboard" in result["error"]
    # Without the broken plugin the run resumes from its last checkpoint and finishes.
    resumed = resume_run(run_dir, quiet=True)
    assert resumed["status"] == "finished" and resumed["last_epoch"]["epoch"] == 2
