"""A quick run with run.trackers = ["wandb"] in offline mode (no account, no network) writes a
local W&B run folder whose records hold the values of metrics.jsonl and whose media hold the
alpha images of arch_history.jsonl and the genotypes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from automl_nas.records import RunDir
from automl_nas.testing import run_recipe
from automl_nas.testing.trackers import toy_tracker_recipe
from automl_nas.tracking.images import alpha_image

TOY = toy_tracker_recipe("wandb")


def read_wandb_log(path) -> list:
    """The protobuf records of a ``run-*.wandb`` file (W&B's LevelDB-style log: a 7-byte file
    header, 32 KiB blocks, each chunk a 7-byte header of crc32c(4) length(2) type(1); types
    1 full, 2 first, 3 middle, 4 last), read independently of the writer."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, out, part = 32768, 7, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind in (2, 3):
            part += chunk
        elif kind == 4:
            out.append(part + chunk)
            part = b""
    return [pb.Record.FromString(c) for c in out]


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for var in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_API_KEY"):
        mp.delenv(var, raising=False)  # offline is the tracker's own default
    mp.setenv("WANDB_SILENT", "true")
    try:
        outcome = run_recipe(tmp_path_factory.mktemp("wandb"), TOY)
    finally:
        mp.undo()
    rd = RunDir(outcome.run_dir)
    (folder,) = (rd.path / "wandb").glob("offline-run-*")
    _written(folder)
    return outcome, rd, folder


def _written(folder, timeout: float = 60.0) -> None:
    """Wait for wandb-core, a process of its own, to finish writing the run's log: run.finish()
    returned before it had (on a loaded machine the file then held no record yet, and the
    history checks failed one full suite in two)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        logs = list(folder.glob("run-*.wandb"))
        try:
            if logs and any(r.WhichOneof("record_type") == "exit" for r in read_wandb_log(logs[0])):
                return
        except Exception:  # noqa: BLE001 - a record being written: read again
            pass
        assert time.monotonic() < deadline, f"wandb wrote no exit record into {folder} within {timeout:.0f} s"
        time.sleep(0.2)


def _history(folder) -> list[dict]:
    (log,) = folder.glob("run-*.wandb")
    rows = []
    for rec in read_wandb_log(log):
        if rec.WhichOneof("record_type") == "history":
            row: dict = {}
            for item in rec.history.item:  # nested values (an image's path, size) come as key paths
                *outer, last = [item.key] if item.key else list(item.nested_key)
                node = row
                for key in outer:
                    node = node.setdefault(key, {})
                node[last] = json.loads(item.value_json)
            rows.append(row)
    return rows


def test_an_offline_run_folder_is_written(wandb_run):
    outcome, rd, folder = wandb_run
    assert outcome.result["status"] == "finished"
    assert folder.name.startswith("offline-run-") and next(folder.glob("run-*.wandb")).stat().st_size > 0


def test_the_logged_metrics_equal_the_epoch_records(wandb_run):
    _, rd, folder = wandb_run
    epochs = rd.read_epochs()
    rows = [r for r in _history(folder) if "acc/valid" in r]
    assert [r["epoch"] for r in rows] == [e.epoch for e in epochs] == [0, 1, 2]  # as TensorBoard's and MLflow's steps
    assert [r["acc/valid"] for r in rows] == pytest.approx([e.valid_acc for e in epochs])
    assert [r["loss/train"] for r in rows] == pytest.approx([e.train_loss for e in epochs])
    group, matrix = next(iter(rd.read_arch_history()[-1].probs.items()))
    probs = {k: v for k, v in rows[-1].items() if k.startswith(f"probs.{group}.")}
    assert sorted(probs.values()) == pytest.approx(sorted(p for row in matrix for p in row))


def test_alpha_images_and_genotypes_are_in_the_run_media(wandb_run):
    _, rd, folder = wandb_run
    history = rd.read_arch_history()
    group = next(iter(history[-1].probs))
    rows = [r for r in _history(folder) if f"alpha/{group}" in r]
    assert len(rows) == 3
    for row, snap in zip(rows, history):
        with Image.open(folder / "files" / row[f"alpha/{group}"]["path"]) as img:
            assert (np.asarray(img.convert("RGB")) == alpha_image(snap.probs[group])).all()
    (table,) = (folder / "files" / "media" / "table").glob("genotypes_*.table.json")
    assert json.loads(table.read_text())["data"] == [[e.epoch, e.genotype] for e in rd.read_epochs()]


def test_a_resumed_search_goes_on_in_its_wandb_run(tmp_path, monkeypatch):
    """A resume made a second W&B run (another id) beside the first, which had no end."""
    from automl_nas.testing.trackers import stopped_then_resumed

    for var in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = stopped_then_resumed(tmp_path, "wandb")
    folders = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(folders) == 2  # W&B's offline mode writes each process's part in a folder of its own
    for folder in folders:
        _written(folder)
    ids = {log.name.removeprefix("run-").removesuffix(".wandb") for folder in folders for log in folder.glob("run-*.wandb")}
    assert ids == {(run_dir / "wandb" / "automl-run-id").read_text()}  # one run, which `wandb sync` joins
    epochs = [r["epoch"] for folder in folders for r in _history(folder) if "acc/valid" in r]
    assert epochs == [0, 1, 2, 3]
