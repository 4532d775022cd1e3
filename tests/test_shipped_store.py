"""The driver's benchmark store as one value and back on a node (cluster trials score from it)."""

from __future__ import annotations

import os
import subprocess
import sys

from automl_nas.benchstore import TableStore, mark_used, pack_store, store_root, unpack_store, unpacked_path, using_store
from automl_nas.benchstore._shipped import UNUSED_FOR_S
from automl_nas.execution.sync import RecordSink


def _store(root, scores: dict[str, float], name: str = "nb201") -> TableStore:
    store = TableStore(root)
    store.write(name, list(scores), {"cifar10": list(scores.values())}, source="test", source_kind="test")
    return store


def test_packing_takes_every_installed_table_and_nothing_half_written(tmp_path):
    assert pack_store(tmp_path / "missing") is None and pack_store(tmp_path) is None
    _store(tmp_path / "s", {"a": 1.0, "b": 2.0})
    _store(tmp_path / "s", {"x": 3.0}, name="other")
    (tmp_path / "s" / ".nb201.tmp123").mkdir()  # an import in progress
    (tmp_path / "s" / ".nb201.tmp123" / "table.parquet").write_bytes(b"partial")
    (tmp_path / "s" / "broken").mkdir()  # no manifest: not installed
    (tmp_path / "s" / "broken" / "table.parquet").write_bytes(b"x")
    packed = pack_store(tmp_path / "s")
    assert sorted(packed.files) == ["nb201/manifest.json", "nb201/table.parquet",
                                    "other/manifest.json", "other/table.parquet"]


def test_an_unpacked_store_reads_as_the_original_once_per_content(tmp_path):
    _store(tmp_path / "s", {"a": 1.0, "b": 2.0})
    packed = pack_store(tmp_path / "s")
    root = unpack_store(packed, under=tmp_path / "node")
    assert root == unpacked_path(packed.digest, under=tmp_path / "node") and root.parent.name.startswith("automl-nas-tables")
    assert TableStore(root).read("nb201") == {"arch": ["a", "b"], "cifar10": [1.0, 2.0]}
    assert TableStore(root).manifest("nb201") == TableStore(tmp_path / "s").manifest("nb201")
    stamp = (root / "nb201" / "table.parquet").stat().st_mtime_ns
    assert unpack_store(pack_store(tmp_path / "s"), under=tmp_path / "node") == root  # same content: same copy
    assert (root / "nb201" / "table.parquet").stat().st_mtime_ns == stamp
    _store(tmp_path / "s", {"a": 1.0, "b": 2.5})  # another import: another copy, the first untouched
    other = unpack_store(pack_store(tmp_path / "s"), under=tmp_path / "node")
    assert other != root and TableStore(other).read("nb201")["cifar10"] == [1.0, 2.5]
    assert TableStore(root).read("nb201")["cifar10"] == [1.0, 2.0]
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no half-written copy left


def test_copies_no_trial_used_for_a_week_are_removed_when_another_is_used(tmp_path):
    node = tmp_path / "node"
    _store(tmp_path / "s", {"a": 1.0})
    old = unpack_store(pack_store(tmp_path / "s"), under=node)  # an earlier import's copy, last used 8 days ago
    _store(tmp_path / "s", {"a": 2.0})
    recent = unpack_store(pack_store(tmp_path / "s"), under=node)  # used yesterday
    crashed = node / old.parent.name / ".deadbeef.tmp"  # a half-written copy an unpack left behind
    crashed.mkdir()
    week = UNUSED_FOR_S
    for path, age in ((old, week + 86400), (recent, 86400), (crashed, week + 60)):
        os.utime(path, (path.stat().st_atime - age, path.stat().st_mtime - age))
    _store(tmp_path / "s", {"a": 3.0})
    current = unpack_store(pack_store(tmp_path / "s"), under=node)
    assert mark_used(current)
    assert sorted(p.name for p in current.parent.iterdir()) == sorted([recent.name, current.name])
    assert TableStore(recent).read("nb201")["cifar10"] == [2.0]
    assert mark_used(recent) and recent.stat().st_mtime > current.stat().st_mtime - 60  # reuse renews it
    assert not mark_used(old)  # gone: the caller unpacks it again


def test_a_store_in_use_reaches_the_processes_a_trial_starts_and_is_dropped_after(tmp_path, empty_automl_home):
    home_store = empty_automl_home / "benchmarks"
    assert store_root() == home_store
    with using_store(tmp_path / "shipped"):
        assert TableStore().root == tmp_path / "shipped"
        child = subprocess.run([sys.executable, "-c", "from automl_nas.benchstore import store_root; print(store_root())"],
                               capture_output=True, text=True, check=True)
        assert child.stdout.strip() == str(tmp_path / "shipped")  # a ranked trial's processes
    assert store_root() == home_store and "AUTOML_NAS_BENCHMARKS" not in os.environ


def test_the_record_sink_serves_the_driver_s_tables_as_they_were_when_the_batch_started(tmp_path):
    (tmp_path / "batch").mkdir()
    assert RecordSink(str(tmp_path / "batch"), str(tmp_path / "empty")).tables_digest() == ""
    assert RecordSink(str(tmp_path / "batch"), str(tmp_path / "empty")).tables() is None
    _store(tmp_path / "s", {"a": 1.0})
    sink = RecordSink(str(tmp_path / "batch"), str(tmp_path / "s"))
    before = pack_store(tmp_path / "s")
    _store(tmp_path / "s", {"a": 9.0})  # re-imported while the batch runs: its trials keep the first
    assert sink.tables_digest() == before.digest and sink.tables() == before
