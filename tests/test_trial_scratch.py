"""A shipped trial's scratch copy on its node: gone however the attempt ends once the driver
holds its records, kept (and marked) when they could not be sent, swept when its worker died."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from automl_nas.execution import sync
from automl_nas.records.trial import TrialSpec


class _Sink:
    def __init__(self, fail_write: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.fail_write = fail_write

    def read(self, rels):
        return {}

    def write(self, files):
        if self.fail_write:
            raise ConnectionError("the driver is gone")
        self.files.update(files)
        return len(files)

    def tables_digest(self):
        return ""


def _fake_ray(monkeypatch, sink: _Sink) -> None:
    """Ray's calls as ``run_shipped`` makes them, answered in process by ``sink``."""
    class _Method:
        def __init__(self, fn):
            self.remote = fn

    class _Handle:
        def __getattr__(self, name):
            return _Method(getattr(sink, name))

    fake = types.ModuleType("ray")
    fake.get_actor = lambda name, namespace=None: _Handle()
    fake.get = lambda value, timeout=None: value
    monkeypatch.setitem(sys.modules, "ray", fake)


@pytest.fixture
def node_tmp(tmp_path, monkeypatch):
    root = tmp_path / "node-tmp"
    root.mkdir()
    monkeypatch.setattr(sync.tempfile, "tempdir", str(root))
    return root


def _spec(tmp_path: Path) -> TrialSpec:
    recipe = tmp_path / "r.toml"
    recipe.write_text("", encoding="utf-8")
    return TrialSpec(recipe_path=str(recipe), run_dir=str(tmp_path / "batch" / "seed-0"), workdir="", name="seed-0")


def _attempt(outcome: str):
    def run(local):
        Path(local.run_dir).mkdir(parents=True)
        (Path(local.run_dir) / "metrics.jsonl").write_text('{"epoch": 0}\n', encoding="utf-8")
        if outcome == "raise":
            raise RuntimeError("the search failed")
        return {"status": "finished"}
    return run


@pytest.mark.parametrize("outcome", ["return", "raise"])
def test_the_scratch_copy_is_removed_once_the_driver_holds_the_records_however_the_attempt_ended(
        tmp_path, node_tmp, monkeypatch, outcome):
    sink = _Sink()
    _fake_ray(monkeypatch, sink)
    if outcome == "raise":
        with pytest.raises(RuntimeError, match="the search failed"):
            sync.run_shipped(_spec(tmp_path), "sink", "", _attempt(outcome))
    else:
        assert sync.run_shipped(_spec(tmp_path), "sink", "", _attempt(outcome))["status"] == "finished"
    assert sink.files["seed-0/metrics.jsonl"] == b'{"epoch": 0}\n'
    assert list(node_tmp.iterdir()) == []


def test_a_copy_whose_records_never_reached_the_driver_is_kept_and_outlives_sweeps(tmp_path, node_tmp, monkeypatch):
    _fake_ray(monkeypatch, _Sink(fail_write=True))
    with pytest.raises(ConnectionError):
        sync.run_shipped(_spec(tmp_path), "sink", "", _attempt("return"))
    [kept] = node_tmp.iterdir()
    assert (kept / "seed-0" / "metrics.jsonl").exists()
    assert (kept / sync.UNSENT).read_text(encoding="utf-8") == str(tmp_path / "batch" / "seed-0")
    (kept / sync.OWNER).write_text(f"{sync.socket.gethostname()} {_dead_pid()}", encoding="utf-8")
    assert sync.sweep_stale_scratch(node_tmp) == [] and kept.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_sweep_removes_only_the_copies_of_workers_that_died_on_this_host(node_tmp):
    live = sync.new_scratch()
    dead = sync.new_scratch()
    (dead / sync.OWNER).write_text(f"{sync.socket.gethostname()} {_dead_pid()}", encoding="utf-8")
    elsewhere = sync.new_scratch()
    (elsewhere / sync.OWNER).write_text(f"other-host {_dead_pid()}", encoding="utf-8")
    recent = node_tmp / (sync.SCRATCH_PREFIX + "recent")  # from before .owner, without a lock: kept a week
    (recent / "seed-0").mkdir(parents=True)
    assert sync.sweep_stale_scratch(node_tmp) == [dead]
    assert sorted(node_tmp.iterdir()) == sorted([live, elsewhere, recent])


def test_copies_from_before_owner_files_are_swept_by_their_run_lock_or_their_age(node_tmp):
    import json
    import os
    import time

    def legacy(name: str, pid: int | None, age_days: float = 0.0) -> Path:
        scratch = node_tmp / (sync.SCRATCH_PREFIX + name)
        run = scratch / "seed-0"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("{}\n", encoding="utf-8")
        if pid is not None:
            (run / ".lock").write_text(json.dumps({"pid": pid, "host": sync.socket.gethostname()}), encoding="utf-8")
        stamp = time.time() - age_days * 86400
        for p in (scratch, *scratch.rglob("*")):
            os.utime(p, (stamp, stamp))
        return scratch

    killed = legacy("killed", _dead_pid())  # its worker's lock names a dead process
    running = legacy("running", os.getpid())
    old = legacy("old", None, age_days=8)
    young = legacy("young", None, age_days=2)
    assert sorted(sync.sweep_stale_scratch(node_tmp)) == sorted([killed, old])
    assert sorted(node_tmp.iterdir()) == sorted([running, young])
