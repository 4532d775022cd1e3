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
    assert result["wall_time_s"] > 0
    resumed = automl("run", "--resume", str(run_dir), "-q")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    # The finished run's wall time covers both segments, not only the resumed one.
    finished = json.loads((run_dir / "result.json").read_text())
    after = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][result["epochs_done"]:]
    assert after and finished["wall_time_s"] >= result["wall_time_s"] + sum(e["epoch_time_s"] for e in after)


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


class FlakySampler:
    """A third-party sampler (in a package that is not the host's) whose `sample` breaks in epoch 2."""

    calls = 0

    def __new__(cls, config=None):
        from automl_nas_toy.space import SoftmaxSampler

        class Flaky(SoftmaxSampler):
            def sample(self, params, *, phase):
                FlakySampler.calls += 1
                if FlakySampler.calls > 4:  # 32 images / batch 16 = 2 steps and arch steps per epoch
                    raise RuntimeError("flaky sampler blew up")
                return super().sample(params, phase=phase)

        return Flaky(config)


class _RegistersFlaky:
    @hookimpl
    def automl_register_samplers(self):
        from automl_nas import Component

        return [Component(kind="sampler", name="flaky", impl="tests.test_faults:FlakySampler")]


def test_a_plugin_component_raising_mid_search_is_named_and_its_run_is_recorded_failed(make_toy_recipe, capsys):
    """A sampler's bug in epoch 2 was `internal error: RuntimeError`, with no result.json (show said
    "running or killed") and no summary on stdout; lifecycle hooks already got this."""
    from click.testing import CliRunner

    from automl_nas.session import open_session, resume_run

    FlakySampler.calls = 0
    recipe = make_toy_recipe(count=32)
    session = open_session([(_RegistersFlaky(), "flaky-dist")])
    import automl_nas.session as session_module

    original = session_module.open_session
    session_module.open_session = lambda *a, **k: session
    try:
        out = CliRunner().invoke(main, ["run", str(recipe), "-q", "--set", "search.epochs=3",
                                        "--set", 'search.sampler={name="flaky"}'])
    finally:
        session_module.open_session = original
    assert out.exit_code == 3, out.output
    assert "plugin error: sampler 'flaky' from plugin 'flaky-dist'" in out.stderr
    assert "failed in epoch 2: RuntimeError: flaky sampler blew up" in out.stderr
    assert "automl run --resume" in out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "failed"
    run_dir = next((recipe.parent / "runs").iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed" and result["epochs_done"] == 1 and result["genotype"]
    assert "sampler 'flaky'" in result["error"]
    FlakySampler.calls = -100  # "fixed": the resume continues from epoch 2's checkpoint
    resumed = resume_run(run_dir, quiet=True, session=session)
    assert resumed["status"] == "finished" and resumed["last_epoch"]["epoch"] == 2
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]  # epoch 1 (0-based) restarted from the checkpoint of epoch 0, none repeated


def test_the_host_s_own_bug_still_records_the_run_failed_and_is_an_internal_error(make_toy_recipe, monkeypatch):
    from click.testing import CliRunner

    from automl_nas.engine import run as engine

    def broken(*args, **kwargs):
        raise ZeroDivisionError("host bug")

    monkeypatch.setattr(engine, "collapse_diagnostics", broken)
    recipe = make_toy_recipe(count=32)
    out = CliRunner().invoke(main, ["run", str(recipe), "-q"])
    assert out.exit_code == 1 and "internal error: ZeroDivisionError: host bug" in out.output
    run_dir = next((recipe.parent / "runs").iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "failed" and result["error"] == "ZeroDivisionError: host bug"


class _FailsAtRunEnd:
    @hookimpl
    def automl_run_end(self, run, result, record):
        raise OSError("dashboard server is down")


def test_a_run_end_hook_raising_after_a_finished_run_still_prints_the_summary(make_toy_recipe, monkeypatch):
    """Exit 3 with nothing on stdout, while result.json said finished."""
    from automl_nas.session import open_session

    recipe = make_toy_recipe(count=32)
    session = open_session([(_FailsAtRunEnd(), "dashboard")])
    monkeypatch.setattr("automl_nas.session.open_session", lambda *a, **k: session)
    out = CliRunner().invoke(main, ["run", str(recipe), "-q"])
    assert out.exit_code == 3
    assert "hook automl_run_end" in out.stderr and "the run itself finished" in out.stderr
    assert json.loads(out.stdout)["status"] == "finished"
    run_dir = next((recipe.parent / "runs").iterdir())
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"


def test_a_quiet_resume_over_an_undecodable_record_drops_it_and_still_warns(tmp_path, toy_recipe):
    """Bytes that are not UTF-8 in metrics.jsonl made the resume an internal error (show skipped
    the line); under -q the warning that an epoch's records are gone was not printed at all."""
    run_dir = tmp_path / "r"
    (tmp_path / "die-once-at-epoch-1").touch()
    automl("run", str(toy_recipe), "-q", "--run-dir", str(run_dir), "--set", "search.epochs=3").wait(timeout=300)
    assert epochs_recorded(run_dir) == 2
    first, second = (run_dir / "metrics.jsonl").read_bytes().splitlines()
    (run_dir / "metrics.jsonl").write_bytes(first[:20] + b"\xff\xfe" + first[22:] + b"\n" + second + b"\n")
    resumed = automl("run", "--resume", str(run_dir), "-q")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "lacks the records of epoch(s) 0 of the 2 the checkpoint holds" in " ".join(err.split()), err
    assert [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_an_unreadable_checksum_manifest_names_the_way_to_keep_the_finished_epochs(tmp_path, toy_recipe):
    """Its fix said only "start a new run", throwing away epochs that removing it keeps."""
    run_dir = tmp_path / "r"
    (tmp_path / "die-once-at-epoch-1").touch()
    automl("run", str(toy_recipe), "-q", "--run-dir", str(run_dir), "--set", "search.epochs=3").wait(timeout=300)
    manifest = run_dir / "checkpoints" / "last.pt.sha256.json"
    manifest.write_text("garbage")
    refused = automl("run", "--resume", str(run_dir), "-q")
    _, err = refused.communicate(timeout=300)
    err = " ".join(err.split())
    assert refused.returncode == 5 and "checksum manifest unreadable" in err, err
    assert f"remove {manifest} and resume again to load last.pt unverified" in err, err
    manifest.unlink()
    resumed = automl("run", "--resume", str(run_dir), "-q")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "loading last.pt unverified" in err, err
    assert [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()] == [0, 1, 2]


def test_resume_says_which_epoch_records_are_gone_and_show_says_so_too(tmp_path, toy_recipe):
    """A cut or deleted metrics.jsonl gave a "finished" run with epochs missing and not a word; a
    deleted checksum manifest was called a checkpoint of automl-nas < 0.2."""
    run_dir = tmp_path / "r"
    (tmp_path / "die-once-at-epoch-1").touch()  # the toy plugin kills the process after epoch 1
    proc = automl("run", str(toy_recipe), "-q", "--run-dir", str(run_dir), "--set", "search.epochs=3")
    proc.wait(timeout=300)
    assert epochs_recorded(run_dir) == 2 and not (run_dir / "result.json").exists()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    (run_dir / "metrics.jsonl").write_text(lines[1] + "\n")  # epoch 0's record lost
    (run_dir / "checkpoints" / "last.pt.sha256.json").unlink()
    resumed = automl("run", "--resume", str(run_dir))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "lacks the records of epoch(s) 0 of the 2 the checkpoint holds" in " ".join(err.split()), err
    assert "last.pt.sha256.json is missing (deleted or lost" in err and "automl-nas < 0.2" not in err
    shown = subprocess.run([sys.executable, "-m", "automl_nas.cli", "show", str(run_dir)], capture_output=True, text=True)
    assert "epochs      2 recorded of the 3 the run made" in shown.stdout, shown.stdout


def test_a_resume_refuses_an_input_file_that_changed_since_the_run_started(tmp_path):
    """A latency table or data file rewritten between the start and the resume was used without a
    word: the resumed run silently continued another search."""
    import numpy as np

    from automl_nas_snas.config import SnasResourceConfig
    from automl_nas.api import INPUT_FILE

    assert attrs_field(SnasResourceConfig, "latency_table").metadata.get(INPUT_FILE)
    data = tmp_path / "images.npz"
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (96, 3, 8, 8), dtype=np.uint8), np.arange(96) % 4
    np.savez(data, x=x, y=y)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"
    run_dir = tmp_path / "r"
    (tmp_path / "die-once-at-epoch-0").touch()
    automl("run", str(recipe), "-p", "quick", "-q", "--run-dir", str(run_dir), "--set", "search.epochs=2",
           "--set", f'data={{name="npz", path="{data}", test_fraction=0.25, layout="nchw", batch_size=16}}').wait(timeout=300)
    env = json.loads((run_dir / "env.json").read_text())
    assert list(env["input_files"]) == ["data.path"] and env["input_files"]["data.path"]["path"] == str(data)
    np.savez(data, x=x[::-1].copy(), y=y)  # the same shape, other images
    refused = automl("run", "--resume", str(run_dir), "-q")
    _, err = refused.communicate(timeout=300)
    err = " ".join(err.split())
    assert refused.returncode == 2 and f"data.path: {data} changed since the run started" in err, err
    np.savez(data, x=x, y=y)
    (run_dir / "env.json").write_text('{"cut')  # a damaged record is said (it went unnoticed), not fatal
    resumed = automl("run", "--resume", str(run_dir), "-q")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"warning: {run_dir / 'env.json'} is unreadable" in " ".join(err.split()), err
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"


def attrs_field(cls, name):
    import attrs

    return attrs.fields_dict(cls)[name]


def _npz(path, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 255, (96, 3, 8, 8), dtype=np.uint8), y=np.arange(96) % 4)


def _npz_data(path) -> str:
    return f'data={{name="npz", path="{path}", test_fraction=0.25, layout="nchw", batch_size=16}}'


SNAS = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"


def test_a_seed_batch_resumed_after_its_data_file_changed_is_refused_before_any_trial(tmp_path):
    """Only a trial's own resume checked: the trials that had not started ran on the new file and
    the aggregate mixed two data sets without a word."""
    data, batch = tmp_path / "d.npz", tmp_path / "B"
    _npz(data, 0)
    batch.mkdir()
    (batch / "die-once-at-epoch-0").touch()  # the driver (local trials run in it) dies in seed 0
    automl("run", str(SNAS), "-p", "quick", "-q", "--seeds", "0-1", "--run-dir", str(batch),
           "--set", "search.epochs=2", "--set", _npz_data(data)).wait(timeout=300)
    assert json.loads((batch / "batch.json").read_text())["input_files"]["data.path"]["path"] == str(data)
    _npz(data, 1)
    refused = automl("run", "--resume", str(batch), "-q")
    _, err = refused.communicate(timeout=300)
    err = " ".join(err.split())
    assert refused.returncode == 2 and f"data.path: {data} changed since the seed batch started" in err, err
    assert not (batch / "seed-1" / "metrics.jsonl").exists()  # no trial ran on the other file
    _npz(data, 0)
    resumed = automl("run", "--resume", str(batch), "-q")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert json.loads((batch / "aggregate.json").read_text())["succeeded"] == 2


def test_a_study_rerun_after_its_data_file_changed_is_refused_before_any_trial(tmp_path):
    """The study compared trials run on two data sets: its protocol kept the path, not the file."""
    data, recipe = tmp_path / "d.npz", tmp_path / "study.toml"
    _npz(data, 0)
    recipe.write_text(SNAS.read_text() + '\n[study]\nname = "s"\nmetric = "metrics.cifar10_analog"\npruner = "none"\n'
                      '[study.params]\n"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-2, log = true }\n')
    args = ["study", str(recipe), "-p", "quick", "-q", "--set", "search.epochs=1", "--set", _npz_data(data)]
    first = automl(*args, "--trials", "1", cwd=tmp_path)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    _npz(data, 1)
    again = automl(*args, "--trials", "2", cwd=tmp_path)
    _, err = again.communicate(timeout=300)
    err = " ".join(err.split())
    assert again.returncode == 2 and "ran its trials under another recipe (data.path (file's SHA-256): was" in err, err
    assert sorted(p.name for p in (tmp_path / "runs" / "studies" / "s").glob("trial-*")) == ["trial-0000"]


def test_a_study_that_varies_a_data_file_does_not_hold_its_content_in_the_protocol(tmp_path):
    from automl_nas.session import open_session
    from automl_nas.study.protocol import protocol_of

    data = tmp_path / "d.npz"
    _npz(data, 0)
    plan = open_session().plan(SNAS, profile="quick", overrides=[_npz_data(data)])
    assert "data.path (file's SHA-256)" in protocol_of(plan, ["search.arch_optimizer.lr"])
    assert not any(k.startswith("data.path") for k in protocol_of(plan, ["data.path"]))  # the parameter itself


def test_a_sigterm_while_a_failed_run_is_recorded_does_not_cut_the_record_short(make_toy_recipe, tmp_path):
    """torchrun SIGTERMs the surviving ranks as soon as one dies, while rank 0 records the lost
    peer: the signal killed it there, with no result.json and no error (1 kill in 6)."""
    import os
    import textwrap

    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal
        from automl_nas.engine import run
        from automl_nas.errors import RunError
        def lost(self, guard, hooks):
            raise RunError("another process of this 2-process run was lost")
        run.Search.run_epochs = lost
        real = run._ended_early
        def terminated_while_recording(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)
        run._ended_early = terminated_while_recording
        from automl_nas.cli import main
        main(["run", {str(recipe)!r}, "-q", "--run-dir", {str(run_dir)!r}])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 5, (proc.returncode, proc.stderr[-2000:])
    assert "another process of this 2-process run was lost" in proc.stderr
    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"
