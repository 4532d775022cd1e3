"""Trial records travel back to the driver: no filesystem shared with the cluster is assumed.

On a cluster (issue 14) a trial runs in a scratch directory of whatever node Ray picked and,
after each checkpoint and when each attempt ends, hands its run directory and attempt log to a :class:`RecordSink`: a
Ray actor pinned to the driver's node that writes them into the driver's batch directory. A
retry, on any node, first pulls what the sink holds, so it resumes from the trial's own
checkpoint. Locally (a private Ray on this machine) trials write in place and none of this runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from automl_nas.benchstore import PackedStore

__all__ = ["RecordSink", "ship_runtime_env", "start_sink", "run_shipped"]

#: Ray's namespace for the sink actors (one per batch, named by a fresh id).
NAMESPACE = "automl-nas"


class RecordSink:
    """Writes files into ``root`` (the driver's batch directory) on the driver's node, and serves
    the driver's installed benchmark tables (``tables_root``, its store) to the trials."""

    def __init__(self, root: str, tables_root: str = "") -> None:
        from automl_nas.benchstore import pack_store

        self.root = Path(root)
        # Packed once, when the batch starts: every trial scores from the same tables.
        self._tables = pack_store(Path(tables_root)) if tables_root else None

    def tables_digest(self) -> str:
        """The content digest of the driver's installed tables; empty when it has none."""
        return self._tables.digest if self._tables is not None else ""

    def tables(self) -> PackedStore | None:
        """:class:`~automl_nas.benchstore.PackedStore` of the driver's store, or ``None``."""
        return self._tables

    def sees(self, marker: str) -> bool:
        """Whether this actor sees the driver's file system (``marker`` is a file the driver made)."""
        return (self.root / marker).exists()

    def write(self, files: dict[str, bytes]) -> int:
        """Store ``{relative path: content}`` under the root, each file atomically."""
        from automl_nas.records.rundir import atomic_write_bytes

        for rel, data in files.items():
            path = self._inside(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
        return len(files)

    def read(self, rels: list[str]) -> dict[str, bytes]:
        """The files under each relative directory or file in ``rels`` (what a retry resumes from)."""
        for rel in rels:
            self._inside(rel)
        return _pack(self.root, rels)

    def _inside(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{rel!r} is outside the batch directory")
        return path


def start_sink(root: Path) -> tuple[Any, str]:
    """A :class:`RecordSink` for ``root`` on this driver's node; returns ``(handle, name)``.

    Refuses (:class:`~automl_nas.errors.RunError`) when the actor does not see ``root``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from automl_nas.benchstore import store_root
    from automl_nas.errors import RunError

    name = f"sink-{uuid.uuid4().hex[:12]}"
    marker = f".sink-{name}"
    (root / marker).touch()
    node = ray.get_runtime_context().get_node_id()
    sink = ray.remote(RecordSink).options(
        name=name, namespace=NAMESPACE, num_cpus=0, lifetime="non_detached",
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)).remote(str(root), str(store_root()))
    try:
        if not ray.get(sink.sees.remote(marker), timeout=120):
            raise RunError(f"{root}: the Ray node this driver joined (node {node}) does not see the batch directory",
                           hint="run `automl` on the machine of the Ray node it joins (the head, or a node started there)")
    finally:
        (root / marker).unlink(missing_ok=True)
    return sink, name


def ship_runtime_env(cwd: Path, excludes: list[str]) -> dict | None:
    """``runtime_env`` that sends the driver's working directory (recipes, data files, tables
    named by relative paths) to every node; ``None`` inside ``ray job submit --working-dir``,
    whose job already ships it to every worker (Ray refuses a second ``working_dir``)."""
    job_env = (json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}").get("runtime_env") or {})
    if job_env.get("working_dir"):
        return None
    return {"working_dir": str(cwd), "excludes": excludes}


def _pack(root: Path, rels: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for rel in rels:
        base = root / rel
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        out.update({str(p.relative_to(root)): data for p in paths if _record(p) and (data := _read(p)) is not None})
    return out


def _record(path: Path) -> bool:
    """A run's record, not what a running attempt holds for itself: its lock (which names the
    worker's pid: on the driver it would lock the directory against a resume), its write probe,
    or a file half-written under ``.tmp`` (the records are sent while the trial runs)."""
    from automl_nas.records.lock import LOCK_NAME

    return path.name != LOCK_NAME and not path.name.endswith(".tmp") and not path.name.startswith(".write-test-")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # replaced or removed by the running attempt since it was listed
        return None


def _unpack(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_shipped(spec, sink_name: str, recipe_text: str, run: Any) -> dict:
    """Run ``spec`` (driver paths) in a scratch copy of its batch directory on this node via
    ``run(local_spec)``, with the recipe written from ``recipe_text`` and the driver's installed
    benchmark tables as the store (when it has any); the trial's records go to the sink after
    each checkpoint and when the attempt ends, however it ends."""
    import attrs
    import ray

    from automl_nas.execution.trial import attempt_log

    sink = ray.get_actor(sink_name, namespace=NAMESPACE)
    driver_dir = Path(spec.run_dir)
    sweep_stale_scratch()
    scratch = new_scratch()
    recipe = scratch / "recipes" / Path(spec.recipe_path).name
    recipe.parent.mkdir()
    recipe.write_text(recipe_text, encoding="utf-8")
    local = attrs.evolve(spec, run_dir=str(scratch / driver_dir.name), recipe_path=str(recipe))
    log = attempt_log(local).relative_to(scratch)
    # The run directory, its ranks' (a ranked trial) and the attempt's logs.
    rels = [driver_dir.name, *(f"{driver_dir.name}-rank{r}" for r in range(1, spec.ranks)), str(log),
            str(log.with_suffix(".ranks.log"))]
    _unpack(scratch, ray.get(sink.read.remote(rels)))  # an earlier attempt's checkpoint, from any node

    def push() -> None:
        ray.get(sink.write.remote(_repoint(_pack(scratch, rels), str(scratch / driver_dir.name), str(driver_dir))))

    try:
        with _drivers_tables(sink), _pushing_checkpoints(scratch / driver_dir.name / "checkpoints" / "last.pt", push):
            result = run(local)
    finally:
        try:
            push()
        except BaseException:
            # The driver is gone with what this attempt did since its last checkpoint: the
            # copy stays, marked so that no later sweep removes it.
            (scratch / UNSENT).write_text(str(driver_dir), encoding="utf-8")
            raise
        # However the attempt ended, the driver holds its records now.
        shutil.rmtree(scratch, ignore_errors=True)
    return {**result, "run_dir": str(driver_dir)}


#: Scratch directories of shipped trials are made in the node's temporary directory with this prefix.
SCRATCH_PREFIX = "automl-trial-"
#: In a scratch directory: ``host pid`` of the worker process that made it.
OWNER = ".owner"
#: In a scratch directory: the driver's run directory whose last records never reached it.
UNSENT = ".unsent"


def new_scratch() -> Path:
    """A private scratch directory for one attempt, naming the process that owns it."""
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    (scratch / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}", encoding="utf-8")
    return scratch


def sweep_stale_scratch(root: Path | None = None) -> list[Path]:
    """Remove the scratch directories of attempts whose worker died on this host without
    cleaning up (a killed worker or node runs no ``finally``): their records went to the
    driver with each checkpoint. Copies marked unsent, and others' directories, are kept.
    Returns what was removed."""
    removed = []
    for scratch in Path(root or tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        if (scratch / UNSENT).exists() or not _owner_is_gone(scratch / OWNER):
            continue
        shutil.rmtree(scratch, ignore_errors=True)
        removed.append(scratch)
    return removed


#: A scratch directory from before they named their owner is swept once this old (seconds).
LEGACY_SCRATCH_AGE_S = 7 * 24 * 3600


def _owner_is_gone(owner: Path) -> bool:
    from automl_nas.records.lock import pid_alive

    try:
        host, pid = owner.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return _legacy_is_gone(owner.parent)
    except (OSError, ValueError):  # not a directory of ours
        return False
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def _legacy_is_gone(scratch: Path) -> bool:
    """A scratch directory made before ``.owner``: gone when a run in it holds the lock of a
    process that died on this host, or when nothing in it changed for a week (its records went to
    the driver with each checkpoint; a copy whose push failed was not marked then)."""
    import time

    from automl_nas.records.lock import LOCK_NAME, lock_state

    locks = [lock.parent for lock in scratch.glob(f"*/{LOCK_NAME}")]
    if locks:
        return all(lock_state(run) == "stale" for run in locks)
    try:
        newest = max(p.stat().st_mtime for p in (scratch, *scratch.rglob("*")))
    except OSError:
        return False
    return time.time() - newest > LEGACY_SCRATCH_AGE_S


#: Seconds between looks at a running trial's checkpoint (a new one goes to the driver at once).
CHECKPOINT_POLL_S = float(os.environ.get("AUTOML_NAS_CHECKPOINT_POLL", "1"))


@contextlib.contextmanager
def _pushing_checkpoints(checkpoint: Path, push: Callable[[], None]) -> Iterator[None]:
    """Each new checkpoint of the running attempt goes to the driver with the records beside it
    and the attempt log: a worker or node killed mid-trial (no ``finally`` runs there) then
    leaves the driver what a retry, or ``--resume`` after the driver died, continues from."""
    stop = threading.Event()

    def watch() -> None:
        seen = None
        while not stop.wait(CHECKPOINT_POLL_S):
            try:
                stamp = checkpoint.stat().st_mtime_ns
            except OSError:
                continue
            if stamp != seen:
                seen = stamp
                try:
                    push()
                except Exception:  # noqa: BLE001 - the sink is gone (the driver died); the attempt goes on
                    return

    thread = threading.Thread(target=watch, name="checkpoint-push", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _drivers_tables(sink: Any):
    """The driver's tables as this process's store (unpacked once per node and content); the
    node's own store when the driver has none installed."""
    import contextlib

    import ray

    from automl_nas.benchstore import mark_used, unpack_store, unpacked_path, using_store

    digest = ray.get(sink.tables_digest.remote())
    if not digest:
        return contextlib.nullcontext()
    root = unpacked_path(digest)
    while not mark_used(root):
        root = unpack_store(ray.get(sink.tables.remote()))
    return using_store(root)


def _repoint(files: dict[str, bytes], scratch: str, driver: str) -> dict[str, bytes]:
    # result.json names its run directory: the driver's, not the scratch copy's.
    out = dict(files)
    for rel, data in files.items():
        if rel.endswith("result.json"):
            out[rel] = data.replace(json.dumps(scratch)[1:-1].encode(), json.dumps(driver)[1:-1].encode())
    return out
