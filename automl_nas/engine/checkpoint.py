"""Atomic checkpoints of a search: weights, arch params, optimisers, sampler, RNG, history."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import numpy as np
import torch

from automl_nas.api.sampler import StructureChanging
from automl_nas.errors import RunError
from automl_nas.records.rundir import atomic_write_bytes, atomic_write_json, read_jsonl
from automl_nas.records.rundir import checkpoint_manifest as _manifest


def save(search, epochs_done: int) -> None:
    run = search.run
    state = {
        "epochs_done": epochs_done,
        "supernet": run.supernet.state_dict(),
        "params": {k: v.detach().cpu() for k, v in run.params.items()},
        "weight_optimizer": run.weight_optimizer.state_dict(),
        "arch_optimizer": run.arch_optimizer.state_dict() if run.arch_optimizer is not None else None,
        "sampler": search.sampler.state_dict(),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                "generator": run.generator.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        "search_time": search.search_time,
        "wall_time": search.wall_time(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    _write_verified(run.run_dir.checkpoint_file, buf.getvalue(), epochs_done, hint=run.run_dir.write_hint)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_verified(path: Path, data: bytes, epochs_done: int, *, hint: str) -> None:
    """The checkpoint and a checksum manifest. The manifest is written first and accepts the
    new and the current checksum, so a crash between the two renames leaves a pair that
    verifies; flipped bytes verify against neither."""
    previous = _sha256(path.read_bytes()) if path.exists() else None
    atomic_write_json(_manifest(path), {"sha256": _sha256(data), "previous_sha256": previous, "bytes": len(data),
                                        "epochs_done": epochs_done}, hint=hint)
    atomic_write_bytes(path, data, hint=hint)


def _verify(path: Path, log) -> None:
    manifest = _manifest(path)
    if not manifest.exists():
        if _written_by_manifest_era(path):
            log(f"warning: {manifest} is missing (deleted or lost: the automl-nas that wrote this run writes one "
                f"with every checkpoint); loading {path.name} unverified")
        else:
            log(f"note: {path} has no checksum manifest (written by automl-nas < 0.2); loading it unverified")
        return
    try:
        accepted = {v for k, v in json.loads(manifest.read_text()).items() if k.endswith("sha256") and v}
    except (OSError, ValueError) as exc:
        raise RunError(f"{manifest}: checksum manifest unreadable ({exc})",
                       hint=f"the run directory was damaged: remove {manifest} and resume again to load "
                            f"{path.name} unverified (with a warning), or start a new run (a new --run-dir)") from None
    if _sha256(path.read_bytes()) not in accepted:
        raise RunError(f"{path}: checkpoint does not match its checksum ({manifest.name}); it was damaged after it was "
                       f"written and is not loaded", hint="start a new run (a new --run-dir); the epoch records of this "
                                                          "run stay readable with `automl show`")


def _written_by_manifest_era(checkpoint: Path) -> bool:
    """Whether the run's env.json names an automl-nas that writes checksum manifests (0.2 on)."""
    try:
        version = json.loads((checkpoint.parent.parent / "env.json").read_text())["packages"]["automl-nas"]
        major, minor = (int(p) for p in str(version).split(".")[:2])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (major, minor) >= (0, 2)


def load(search) -> None:
    """Restore the state saved by :func:`save` and trim records past it."""
    run = search.run
    path = run.run_dir.checkpoint_file
    if not path.exists():
        raise RunError(f"{run.run_dir.path}: no checkpoint to resume from ({path} is missing)",
                       hint="the run stopped before its first checkpoint; start a new run (a new --run-dir)")
    _verify(path, run.log)
    try:
        state = torch.load(path, map_location=run.device, weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise RunError(f"{path}: checkpoint is unreadable ({type(exc).__name__}: {exc})",
                       hint="start a new run (a new --run-dir)") from None
    search.sampler.load_state_dict(state["sampler"])
    if isinstance(search.sampler, StructureChanging):
        search.sampler.restore(run)
    run.supernet.load_state_dict(state["supernet"])
    with torch.no_grad():
        for k, v in state["params"].items():
            run.params[k].copy_(v.to(run.device))
    run.weight_optimizer.load_state_dict(state["weight_optimizer"])
    if run.arch_optimizer is not None:
        run.arch_optimizer.load_state_dict(state["arch_optimizer"])
    # Generator states are CPU byte tensors whatever the generator's device, and the map
    # location above moved them to the run's device: on a GPU, resuming stopped here.
    rng = state["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"].cpu())
    run.generator.set_state(rng["generator"].cpu())
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    done = state["epochs_done"]
    rd = run.run_dir
    rd.truncate_jsonl(rd.metrics_file, done)
    rd.truncate_jsonl(rd.history_file, done)
    search.history = read_jsonl(rd.metrics_file)
    missing = sorted(set(range(done)) - {r.get("epoch") for r in search.history})
    if missing:  # cut or deleted records: the checkpoint goes on, but the run's history has a gap
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        run.log(f"warning: {rd.metrics_file} lacks the records of epoch(s) {shown} of the {done} the checkpoint "
                f"holds (cut or deleted); the search continues from the checkpoint, and those epochs stay missing "
                f"from its curves and `automl show`")
    search.start_epoch = done
    run._set_start_epoch(done)
    search.search_time = state["search_time"]
    search.earlier_wall_time = state.get("wall_time", 0.0)  # checkpoints before it was kept: this segment only
    run.log(f"resumed {rd.path} after epoch {done}")
