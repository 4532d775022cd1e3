"""A trial that is one data-parallel search over several processes (``[executor] ranks = N``).

The attempt launches ``torch.distributed.run --standalone --nproc-per-node N`` with
``automl run`` (the engine joins the process group itself: gloo on CPU, nccl on GPUs, rank r
on the r-th GPU the trial holds, see :mod:`automl_nas.engine.distributed`). Rank 0 writes the
trial's run directory, rank r > 0 the sibling ``<run dir>-rankR``
(:func:`~automl_nas.records.rundir.rank_path`). While the ranks run, rank 0's epoch records are
read as they are appended and handed to the trial's lifecycle plugins (the executor's epoch
relay, Tune's per-epoch report), so a ranked trial streams its epochs like any other. A retry
resumes every rank from its own checkpoint (``automl run --resume``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import attrs

from automl_nas.errors import RunError
from automl_nas.records.trial import TrialSpec, read_trial_result
from automl_nas.records.layout import TRIAL_OF

__all__ = ["rank_dirs", "run_ranked"]


def rank_dirs(spec: TrialSpec) -> list[Path]:
    """The trial's run directory and those of its ranks r > 0."""
    run_dir = Path(spec.run_dir)
    return [run_dir, *(run_dir.with_name(f"{run_dir.name}-rank{r}") for r in range(1, spec.ranks))]


@attrs.frozen
class _RunDirView:
    path: Path


@attrs.frozen
class _RankedRun:
    """What the relayed plugins read of the run (``run.num_epochs``, ``run.run_dir.path``)."""

    run_dir: _RunDirView
    num_epochs: int


def _command(spec: TrialSpec, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={spec.ranks}",
           "-m", "automl_nas.cli", "run", "-q"]
    if resume:
        return [*cmd, "--resume", spec.run_dir]
    cmd += [spec.recipe_path, "--run-dir", spec.run_dir]
    if spec.profile:
        cmd += ["--profile", spec.profile]
    for override in spec.overrides:
        cmd += ["--set", override]
    return cmd


def _planned_epochs(run_dir: Path) -> int:
    import tomllib

    try:
        return int(tomllib.loads((run_dir / "recipe.toml").read_text(encoding="utf-8"))["search"]["epochs"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def run_ranked(spec: TrialSpec, *, resume: bool, plugins: Iterable[Any] = (), log: Path) -> dict:
    """Run ``spec`` as ``spec.ranks`` processes; returns rank 0's ``result.json``.

    ``plugins`` get ``automl_epoch_end`` for every epoch rank 0 records; the ranks' stderr goes
    to ``log``. Raises :class:`~automl_nas.errors.RunError` (with the log's last lines) when the
    launch fails, so the executor retries it."""
    run_dir, plugins = Path(spec.run_dir), list(plugins)
    metrics = run_dir / "metrics.jsonl"
    seen = len(metrics.read_text(encoding="utf-8").splitlines()) if resume and metrics.is_file() else 0
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as err:
        # Its own process group (the ranks share it), ended with this process: a trial whose
        # worker is killed (a cancelled Ray task, a dead driver) leaves no ranks behind.
        # TRIAL_OF names the batch or study the ranks write into (`automl run` refuses a --run-dir inside one)
        env = {**os.environ, TRIAL_OF: str(Path(spec.run_dir).parent)}
        proc = subprocess.Popen(_command(spec, resume), stdout=subprocess.DEVNULL, stderr=err, cwd=spec.workdir or None,
                                start_new_session=True, preexec_fn=_end_with_parent, env=env)
        try:
            while True:
                done = proc.poll() is not None  # read once more after the ranks ended: the last epoch
                seen = _relay_new_epochs(metrics, seen, run_dir, plugins)
                if done:
                    break
                time.sleep(0.5)
        except BaseException:
            _stop_group(proc)
            raise
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()[-4:])
        raise RunError(f"{spec.name or run_dir.name}: the {spec.ranks} ranks ended with exit code {proc.returncode}: {tail}",
                       hint=f"the ranks' output is in {log}")
    result = read_trial_result(run_dir)
    if result is None:
        raise RunError(f"{run_dir}: rank 0 left no readable result.json", hint=f"see {log}")
    return result


def _end_with_parent() -> None:
    """In the launcher's child: SIGTERM when the parent dies (Linux), which torchrun passes on
    to its ranks; elsewhere the parent's own handlers stop the group."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the launcher's process group (torchrun and its ranks), SIGKILL after 10 s."""
    import os
    import signal

    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _relay_new_epochs(metrics: Path, seen: int, run_dir: Path, plugins: list[Any]) -> int:
    try:
        data = metrics.read_bytes()
    except OSError:
        return seen
    lines = data.decode("utf-8", errors="replace").splitlines()
    complete = lines if data.endswith(b"\n") else lines[:-1]  # a line being written waits for the next read
    run = _RankedRun(run_dir=_RunDirView(run_dir), num_epochs=_planned_epochs(run_dir))
    for line in complete[seen:]:
        record = json.loads(line)
        for plugin in plugins:
            plugin.automl_epoch_end(run=run, epoch=int(record["epoch"]), metrics=record)
    return max(seen, len(complete))
