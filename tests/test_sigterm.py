"""SIGTERM (Slurm, Kubernetes, `timeout`) stops `automl eval` and `automl search` as Ctrl-C does:
the finished work is kept, the hint names how to continue, and the summary is printed (exit 130).
They died at once, without a word. Each stop runs in its own process: without the handler,
SIGTERM ends the process that receives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.test_eval_cmd import DRNAS_CELL, TINY_NET, _blobs_npz, _data

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_sigterm_stops_a_retraining_and_the_same_command_resumes(tmp_path):
    npz = _blobs_npz(tmp_path / "b.npz")
    args = ["eval", DRNAS_CELL, "-e", "retrain", "--data", _data(npz), "--set", "epochs=3", "--set", "batch_size=32",
            "--set", TINY_NET, "--work-dir", str(tmp_path / "wd")]
    stopped = _run(f"""
        import os, signal
        from automl_nas_eval_retrain.trainer import Trainer
        real = Trainer.train_epoch
        def terminated_at_second(self, epoch):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(self, epoch)
        Trainer.train_epoch = terminated_at_second
        from automl_nas.cli import main
        main({args!r})
    """, tmp_path)
    assert stopped.returncode == 130, stopped.stderr
    assert "automl: interrupted" in stopped.stderr and "run the same command again to resume" in stopped.stderr
    resumed = _run(f"from automl_nas.cli import main\nmain({args!r})", tmp_path)
    assert resumed.returncode == 0 and "after epoch 1/3" in resumed.stderr, resumed.stderr


def test_sigterm_stops_a_black_box_search_with_its_summary_and_resume_line(tmp_path):
    run_dir = tmp_path / "stopped"
    args = ["search", str(REPO / "recipes" / "morphism-nb201.toml"), "-p", "quick", "--run-dir", str(run_dir)]
    stopped = _run(f"""
        import os, signal
        from automl_nas.study import blackbox
        real, calls = blackbox._score, []
        def terminated_at_the_sixth(*args, **kwargs):
            calls.append(1)
            if len(calls) == 6:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)
        blackbox._score = terminated_at_the_sixth
        from automl_nas.cli import main
        main({args!r})
    """, tmp_path)
    assert stopped.returncode == 130, stopped.stderr
    assert "search stopped after" in stopped.stderr and f"automl search --resume {run_dir}" in stopped.stderr
    summary = json.loads(stopped.stdout)
    kept = (run_dir / "history.jsonl").read_text().splitlines()
    assert summary["status"] == "interrupted" and summary["queries"] == len(kept) >= 5
    # progress counts queries from 1 against the budget, with an ETA (it said `query 3` for the 4th, no total)
    assert "query    1/20 ETA " in stopped.stderr and "query    5/20 ETA " in stopped.stderr


def test_sigterm_stops_a_black_box_search_on_ray_as_it_does_one_in_process(tmp_path):
    """ray.init put Ray's failure handler over the search's: SIGTERM printed a C++ stack dump and
    aborted the driver (no summary, no resume line)."""
    import signal
    import time

    run_dir = tmp_path / "stopped"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "automl"), "search",
                             str(REPO / "recipes" / "morphism-nb201.toml"), "-p", "quick", "--run-dir", str(run_dir),
                             "--set", 'executor.name="ray"', "--set", "blackbox.queries=10000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    history = run_dir / "history.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and \
            (not history.exists() or len(history.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "SIGTERM received" not in err and "search stopped after" in err
    assert f"automl search --resume {run_dir}" in err
    assert json.loads(out)["queries"] == len(history.read_text().splitlines()) >= 3


def test_sigterm_stops_a_study_on_ray_as_ctrl_c_does(tmp_path):
    """On Ray the study's driver only waits for its trials, and no stop guard ran there: SIGTERM
    killed it at once (exit 143), with no summary and no way on."""
    import signal

    from tests.conftest import toy_recipe_text

    recipe = tmp_path / "study.toml"
    recipe.write_text(toy_recipe_text(tmp_path / "runs", count=32, tail='[executor]\nname = "ray"\ncpus = 1\n'
                                      '[study]\nname = "s"\ntrials = 2\nsampler = "random"\nmetric = "metrics.convs"\n'
                                      '[study.params]\n"search.arch_optimizer.lr" = { type = "float", low = 0.001, '
                                      'high = 0.01, log = true }\n'))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "automl"), "study", str(recipe), "--set",
                             "search.epochs=120"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "trial trial-0000: epoch 3/120" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 130, err[-3000:]
    assert "study 's' stopped" in err and "run the same `automl study` command again" in err, err[-3000:]
    assert json.loads(out)["status"] == "interrupted"
