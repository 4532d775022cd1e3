"""The driver's benchmark store as one value and back on a node (cluster trials score from it)."""

from __future__ import annotations

import os
import subprocess
import sys

from automl_nas.benchstore import TableStore, pack_store, store_root, unpack_store, unpacked_path, using_store
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
