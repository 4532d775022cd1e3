"""Data sets fetched into a shared cache: trials starting together download once, and nobody
reads a half-written file (automl_nas.datafetch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from automl_nas.benchstore import DEFAULT_DATA_ROOT, data_dir
from automl_nas.datafetch import exclusive, fetch_atomically, lock_path

# One "trial": load the files if they are all there, else fetch them (slowly, file by file)
# under the lock; record every fetch and what it read.
TRIAL = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from automl_nas.datafetch import exclusive, fetch_atomically
    root, name = Path(sys.argv[1]), sys.argv[2]
    dest = root / "set"
    FILES = [f"batch_{i}" for i in range(4)]
    missing = lambda: [f for f in FILES if not (dest / f).is_file()]

    def fetch(tmp):
        with open(root / "fetches.log", "a") as log:
            log.write(name + "\\n")
        (tmp / "set").mkdir()
        for f in FILES:
            (tmp / "set" / f).write_text("x" * 100_000)
            time.sleep(0.3)
        return tmp / "set"

    if missing():
        with exclusive(root, "set"):
            if missing():
                fetch_atomically(dest, fetch)
    print(json.dumps({f: len((dest / f).read_text()) for f in FILES}))
""")


def _trial(root, name):
    return subprocess.Popen([sys.executable, "-c", TRIAL, str(root), name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_trials_starting_together_fetch_once_and_each_reads_whole_files(tmp_path):
    trials = [_trial(tmp_path, f"t{i}") for i in range(3)]
    outs = [p.communicate(timeout=120) for p in trials]
    assert [p.returncode for p in trials] == [0, 0, 0], [err for _, err in outs]
    assert len((tmp_path / "fetches.log").read_text().split()) == 1  # one download, not three
    for out, _ in outs:
        assert json.loads(out) == {f"batch_{i}": 100_000 for i in range(4)}
    waited = [err for _, err in outs if "waiting for another process fetching set" in err]
    assert waited and str(lock_path(tmp_path, "set")) in waited[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fetches.log", "set"]  # no temporary or lock file left


def test_a_failed_fetch_leaves_the_folder_as_it_was(tmp_path):
    dest = tmp_path / "set"
    dest.mkdir()
    (dest / "kept").write_text("earlier")

    def fetch(tmp):
        (tmp / "batch_0").write_text("partial")
        raise ConnectionError("network down")

    killed = tmp_path / ".set.fetching.abc123"  # what a fetch killed mid-download left: removed by the next
    killed.mkdir()
    (killed / "archive.tar.gz").write_bytes(b"partial")
    with pytest.raises(ConnectionError):
        fetch_atomically(dest, fetch)
    assert [p.name for p in dest.iterdir()] == ["kept"] and [p.name for p in tmp_path.iterdir()] == ["set"]

    def nested(tmp):  # an archive unpacked with a sub-folder
        (tmp / "a" / "b").mkdir(parents=True)
        (tmp / "a" / "b" / "c").write_text("c")
        (tmp / "a" / "top").write_text("t")
        return tmp / "a"

    fetch_atomically(dest, nested)
    assert (dest / "b" / "c").read_text() == "c" and (dest / "top").read_text() == "t" and (dest / "kept").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is fcntl's; Windows runs unguarded")
def test_a_fetch_killed_while_holding_the_lock_does_not_block_the_next(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from automl_nas.datafetch import exclusive
        with exclusive({str(tmp_path)!r}, "set"):
            print("holding", flush=True)
            time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    messages = []
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    start = time.monotonic()
    with exclusive(tmp_path, "set", log=messages.append):
        pass
    assert time.monotonic() - start < 5 and messages == []  # the OS released the dead holder's lock


def test_a_failed_fetch_leaves_neither_a_lock_file_nor_a_folder_made_for_it(tmp_path):
    """An offline download of CIFAR-10 failed and left the data folder and its lock file behind."""
    root = tmp_path / "data" / "cifar"
    with pytest.raises(ConnectionError):
        with exclusive(root, "cifar10"):
            assert lock_path(root, "cifar10").exists()
            raise ConnectionError("offline")
    assert not (tmp_path / "data").exists()  # the folders above it were made for it too (AUTOML_NAS_HOME's)
    (tmp_path / "data" / "kept").mkdir(parents=True)
    with pytest.raises(ConnectionError), exclusive(root, "cifar10"):
        raise ConnectionError("offline")
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["kept"]  # a folder another block needs stays
    (root / "other").mkdir(parents=True)
    with exclusive(root, "cifar10"):
        pass
    assert [p.name for p in root.iterdir()] == ["other"]  # a folder that was there stays, without the lock file


@pytest.mark.skipif(sys.platform == "win32", reason="the lock is fcntl's; Windows runs unguarded")
def test_a_waiter_whose_lock_file_was_removed_locks_the_new_one(tmp_path):
    """The holder removes the lock file when done; a process that waited on it must not share the
    lock with one that created a new file meanwhile."""
    import threading

    order, inside = [], threading.Lock()

    def hold(name, pause):
        with exclusive(tmp_path, "set", log=lambda _m: None):
            assert inside.acquire(blocking=False), "two holders at once"
            order.append(name)
            time.sleep(pause)
            inside.release()

    threads = [threading.Thread(target=hold, args=(f"t{i}", 0.3)) for i in range(4)]
    for t, start_gap in zip(threads, (0.05, 0.05, 0.3, 0)):  # t3 starts after t0 removed the file t1 waits on
        t.start()
        time.sleep(start_gap)
    for t in threads:
        t.join(timeout=30)
    assert sorted(order) == ["t0", "t1", "t2", "t3"] and not lock_path(tmp_path, "set").exists()


def test_where_no_lock_can_be_taken_the_block_still_runs(tmp_path):
    lock_path(tmp_path, "set").mkdir()  # the lock file cannot be opened (as in a directory this user cannot write)
    ran = []
    with exclusive(tmp_path, "set"):
        ran.append(True)
    assert ran == [True]


def test_the_default_data_cache_moves_with_automl_nas_home_and_user_paths_do_not(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    assert data_dir(DEFAULT_DATA_ROOT) == tmp_path / "home" / "data"
    assert data_dir(f"{DEFAULT_DATA_ROOT}/graphs") == tmp_path / "home" / "data" / "graphs"
    assert data_dir(str(tmp_path / "mine")) == tmp_path / "mine"
    assert data_dir("~/x") == data_dir("~/x").expanduser() and not str(data_dir("~/x")).startswith("~")


def test_a_folder_removed_between_mkdir_and_open_is_made_again_not_run_unguarded(tmp_path, monkeypatch):
    """A holder that made the folder removes it when done; a waiter whose open then failed ran its
    fetch without the lock, beside the next holder."""
    import automl_nas.datafetch as datafetch

    root, real_open, calls = tmp_path / "data", os.open, []

    def open_after_the_holder_left(path, *args):
        calls.append(path)
        if len(calls) == 1:  # the holder's cleanup ran just now
            root.rmdir()
        return real_open(path, *args)

    monkeypatch.setattr(datafetch.os, "open", open_after_the_holder_left)
    with exclusive(root, "set"):
        assert lock_path(root, "set").exists()  # locked, not unguarded
    assert len(calls) == 2
