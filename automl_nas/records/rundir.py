"""The one module that owns a run directory's layout.

::

    runs/<recipe>-<timestamp>/
      recipe.toml           fully resolved recipe
      env.json              package versions, device, seed, data set
      metrics.jsonl         one record per epoch (and per logged step)
      arch_history.jsonl    architecture parameters and probabilities per epoch
      checkpoints/last.pt   latest checkpoint (atomic: written, then renamed)
      result.json           final result (status: finished | interrupted | failed)
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from automl_nas.errors import RunError
from automl_nas.records.lock import LOCK_NAME, directory_lock, lock_state
from automl_nas.records.strict_json import dumps as strict_dumps

if TYPE_CHECKING:
    from automl_nas.records.schema import ArchSnapshot, EpochRecord, RunResult

# make()'s write probe and directory_lock's record before it is linked into place
_TRANSIENT = re.compile(rf"\.write-test-\d+|{re.escape(LOCK_NAME)}\.\d+\.tmp")


#: The fix a failed record write names by default: the run resumes from what was written.
RESUME_HINT = "free disk space or fix the permissions, then continue with `automl run --resume` on the run directory"


@contextlib.contextmanager
def _writing(path: Path, hint: str) -> Iterator[None]:
    """A failed write of a record (full disk, lost permission) is a run error naming the file;
    what was written before stays as it was."""
    try:
        yield
    except OSError as exc:
        raise RunError(f"{path}: cannot write ({exc.strerror or exc}); files written before are kept",
                       hint=hint) from None


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it); the ``OSError`` of a
    failed write leaves ``path`` as it was and removes the partial temporary file, which on a full
    disk would hold the space that writing again needs."""
    # One temporary file per process: two writers of one record (two `automl eval` of a run at once)
    # shared `NAME.tmp`, so one renamed the other's bytes and the second rename failed, reported as
    # a full disk.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _remove_dead_writers_files(path)


def _remove_dead_writers_files(path: Path) -> None:
    """The temporary files of writers of ``path`` that were killed mid-write (each process names
    its own, so the next write no longer replaces them)."""
    from automl_nas.records.lock import pid_alive

    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
            pid = leftover.name[len(path.name) + 1:-len(".tmp")]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                leftover.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes, *, hint: str = RESUME_HINT) -> None:
    """A record written with :func:`replace_atomically`; a failure is a run error naming the file,
    with ``hint`` as its fix (by default: resume the run)."""
    with _writing(path, hint):
        replace_atomically(path, data)


def atomic_write_json(path: Path, obj: Any, *, hint: str = RESUME_HINT) -> None:
    atomic_write_bytes(path, (strict_dumps(obj, indent=2, sort_keys=False, default=_default) + "\n").encode(),
                       hint=hint)


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def rank_path(path: str | Path) -> Path:
    """This process's directory for a run directory named on the command line (``--run-dir``,
    ``--resume``): ``path`` itself, except for rank R > 0 of a ``torchrun`` launch, which keeps its
    own records in the sibling ``path-rankR`` (every rank holds the same architecture; rank 0's
    records are the run's)."""
    path = Path(path)
    rank = int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0
    return path if rank == 0 else path.with_name(f"{path.name}-rank{rank}")


def rank0_path(path: str | Path) -> Path:
    """Rank 0's directory (the run's) for any rank's directory of a ``torchrun`` search."""
    return Path(re.sub(r"-rank\d+$", "", str(path)))


def resume_command(run_dir: str | Path, size: int | None = None) -> str:
    """The command that continues ``run_dir``: ``automl run --resume DIR``, or for a run of
    ``size`` processes (default: this launch's) the torchrun line over rank 0's directory."""
    size = int(os.environ.get("WORLD_SIZE", "1")) if size is None else size
    if size <= 1:
        return f"automl run --resume {run_dir}"
    return f"torchrun --nproc-per-node {size} $(command -v automl) run --resume {rank0_path(run_dir)}"


def recorded_world_size(run_dir: str | Path) -> int:
    """How many processes ran ``run_dir`` (rank 0's directory): ``env.json``'s ``world_size``,
    else (records written before it was kept) one plus its ``-rankR`` siblings."""
    path = Path(run_dir)
    try:
        return int(json.loads((path / "env.json").read_text())["world_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1 + sum(1 for _ in path.parent.glob(f"{glob.escape(path.name)}-rank[0-9]*"))


#: The longest recipe name kept in a directory name: a time stamp, ``-rankR`` and ``-N`` follow
#: it, and most file systems take 255 bytes per path component.
NAME_CHARS = 120


def safe_name(name: str) -> str:
    """A recipe name as one path component: no separators, no leading dots (``../x`` -> ``x``),
    at most :data:`NAME_CHARS` characters (a longer one failed the run at its directory)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:NAME_CHARS].rstrip(".-") or "run"


def unusable_path(path: Path, *, what: str = "run directory", option: str = "--run-dir") -> None:
    """Refuse a directory path (``what``, given by ``option``) the file system cannot take (a
    component over its name length, a link that loops) or a link to nothing, naming it; they
    were internal errors or "File exists"."""
    try:
        path.exists()
        path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise RunError(f"{what} {path} cannot be used: {reason}",
                       hint=f"pass another {option} (each path component at most 255 bytes, no link that loops)"
                       ) from None
    if path.is_symlink() and not path.exists():
        raise RunError(f"{what} {path} is a link to {os.readlink(path)}, which does not exist",
                       hint=f"create the directory it names, or pass another {option}")


def creatable_dir(path: Path, *, what: str, key: str) -> None:
    """Refuse a directory ``path`` (the recipe's ``key``) that could not be created or written:
    its nearest existing ancestor is a file, or one this process may not write. ``automl
    validate`` said ok to such a root and the run then stopped at its first write."""
    unusable_path(path, what=what, option=key)
    missing = missing_dirs(path.absolute())
    probe = missing[-1].parent if missing else path.absolute()
    if not probe.is_dir():
        raise RunError(f"{what} {path} cannot be created: {probe} is a file",
                       hint=f"set {key} to a directory (or a path to create) instead")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunError(f"{what} {path} cannot be written: {probe} is not writable by this user",
                       hint=f"set {key} to a writable directory, or run from one")


def checkpoint_manifest(checkpoint: Path) -> Path:
    """The checksum manifest written beside a search checkpoint (``last.pt.sha256.json``)."""
    return checkpoint.with_name(checkpoint.name + ".sha256.json")


def saved_epochs(checkpoint: Path) -> int | str | None:
    """The epochs ``checkpoint`` holds, as its manifest says; ``None`` without a checkpoint, and
    ``"unknown"`` when no readable manifest says."""
    if not checkpoint.exists():
        return None
    try:
        return int(json.loads(checkpoint_manifest(checkpoint).read_text())["epochs_done"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first: what a
    ``mkdir(parents=True)`` creates, and what a block that leaves nothing behind removes again."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def remove_empty_dirs(created: list[Path]) -> bool:
    """Remove the directories of :func:`missing_dirs` (deepest first) while they are empty, as a
    block that made them and stopped leaves nothing behind; whether the deepest one went."""
    for i, path in enumerate(created):
        try:
            path.rmdir()
        except OSError:  # something is in it (or it is gone): what is above it stays too
            return i > 0 or not path.exists()
    return bool(created)


def numbered(base: Path, n: int) -> Path:
    """``base`` for ``n = 1``, else ``base-<n>``: the names an automatically named directory tries."""
    return base if n == 1 else base.with_name(f"{base.name}-{n}")


def first_free(base: Path) -> Path:
    """The first of ``base``, ``base-2``, ... that does not exist (nothing is created)."""
    n = 1
    while numbered(base, n).exists():
        n += 1
    return numbered(base, n)


def reserve_free(base: Path) -> Path:
    """Create and return the first of ``base``, ``base-2``, ... that no one holds. ``mkdir`` is
    the test, so processes started in the same second, which all chose one timestamped name,
    each get a directory of their own instead of all but one being refused."""
    n = 1
    while True:
        try:
            numbered(base, n).mkdir(parents=True)
            return numbered(base, n)
        except FileExistsError:
            n += 1


class RunDir:
    """A run directory. :meth:`new` chooses one for a new run without creating anything;
    :meth:`claim` creates it, checks it can be written and holds its lock for the run."""

    def __init__(self, path: str | Path, *, resume: str = "automl run --resume",
                 continues_from: str = "checkpoints/last.pt") -> None:
        self.path = Path(path)
        self.resume = resume  # the command that continues this run, named when a write fails
        self.continues_from = continues_from  # the file `resume` continues from: without it, there is nothing to
        # new()'s automatic name: make() takes the next free one if another run took it meanwhile
        self._named_from: Path | None = None

    @classmethod
    def new(cls, root: str | Path, name: str, path: str | Path | None = None, *,
            resume: str = "automl run --resume", continues_from: str = "checkpoints/last.pt") -> "RunDir":
        """``path``, or ``root/<safe name>-<time>``; an existing non-empty ``path`` is refused
        (an earlier run is never written into; ``resume``, the command that continues one, is
        named in the error)."""
        if path is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            # under torchrun every rank writes its own records (issue 15): name-<time>-rankR
            rank = f"-rank{os.environ.get('RANK', '0')}" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
            base = Path(root) / f"{safe_name(name)}-{stamp}{rank}"
            run = cls(first_free(base), resume=resume, continues_from=continues_from)
            run._named_from = base
            return run
        run = cls(rank_path(path), resume=resume, continues_from=continues_from)
        run.refuse_if_used(resume=resume)
        return run

    @classmethod
    def create(cls, root: str | Path, name: str, path: str | Path | None = None) -> "RunDir":
        """:meth:`new` and create it now (for callers that hold no lock, e.g. benchmarks)."""
        run = cls.new(root, name, path)
        run.make()
        return run

    def refuse_if_used(self, *, resume: str = "automl run --resume") -> None:
        unusable_path(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise RunError(f"run directory {self.path} cannot be written: it is a file",
                           hint="pass a directory with --run-dir")
        try:
            # What make() and the lock leave in a fresh directory does not count as a run, nor do
            # the moment-long files of another run starting at once (its write probe, its lock
            # record before the link): seeing them, both runs were refused (one must win).
            used = self.path.is_dir() and any(
                p.name != LOCK_NAME and not _TRANSIENT.fullmatch(p.name)
                and not (p.name == "checkpoints" and p.is_dir() and not any(p.iterdir()))
                for p in self.path.iterdir())
        except OSError as exc:
            raise RunError(f"run directory {self.path} cannot be read: {exc.strerror or exc}") from None
        if used and not any((self.path / name).is_file() for name in ("recipe.toml", "metrics.jsonl", "result.json")):
            # someone's files, not a run that `--resume` could continue
            raise RunError(f"run directory {self.path} is not empty and holds no run; what is there is never written "
                           f"into", hint="choose a new or empty --run-dir")
        if used:
            raise RunError(f"run directory {self.path} already holds a run; an earlier run is never written into",
                           hint=f"continue it with `{resume} {self.path}`, or choose a new --run-dir")

    def make(self) -> None:
        """Create the directory and check that it can be written."""
        try:
            if self._named_from is not None:
                self.path, self._named_from = reserve_free(self._named_from), None
            (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"  # per process: two runs may probe at once
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise RunError(f"run directory {self.path} cannot be written: {exc.strerror or exc}",
                           hint="choose a writable root with `--set run.root=DIR` or `--run-dir DIR`") from None

    @contextlib.contextmanager
    def claim(self, *, fresh: bool, log: Callable[[str], None] = lambda _m: None) -> Iterator["RunDir"]:
        """Hold the directory for a run: create it (``fresh``) and keep its lock until the block
        ends. A fresh run re-checks emptiness under the lock, so two runs started at once with
        the same directory cannot both write it."""
        if fresh:
            self.make()
        elif not self.recipe_file.exists():
            raise RunError(f"{self.path} is not a run directory (recipe.toml is missing)",
                           hint="pass the directory `automl run` printed")
        with directory_lock(self.path, what="run", log=log):
            if fresh:
                self.refuse_if_used()
            yield self

    # ---- layout ----
    @property
    def recipe_file(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def env_file(self) -> Path:
        return self.path / "env.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def history_file(self) -> Path:
        return self.path / "arch_history.jsonl"

    @property
    def result_file(self) -> Path:
        return self.path / "result.json"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    # ---- writes ----
    @property
    def write_hint(self) -> str:
        """The fix a failed write in this directory names: make room, then continue the run (or,
        before the file a resume continues from exists, start it again)."""
        if not (self.path / self.continues_from).exists():
            return ("free disk space or fix the permissions, then start the run again with a new --run-dir (nothing "
                    f"was written that `{self.resume}` could continue from)")
        # a torchrun rank's directory is continued by the torchrun line over rank 0's
        then = resume_command(self.path) if self.resume == "automl run --resume" else f"{self.resume} {self.path}"
        return f"free disk space or fix the permissions, then continue with `{then}`"

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_bytes(path, text.encode(), hint=self.write_hint)

    def append_jsonl(self, path: Path, record: dict) -> None:
        with _writing(path, self.write_hint), open(path, "a", encoding="utf-8") as fh:
            fh.write(strict_dumps(record, default=_default) + "\n")
            fh.flush()

    def truncate_jsonl(self, path: Path, keep: int, *, key: str = "epoch") -> None:
        """Keep the records whose ``key`` (default ``epoch``) is < ``keep``, and those without it:
        a resume drops records past its checkpoint. A line cut by a crash is dropped too, or the
        next record appended would continue it."""
        if not path.exists():
            return
        kept = [ln for ln in _text_lines(path) if (rec := _record(ln)) is not None and rec.get(key, -1) < keep]
        atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode(), hint=self.write_hint)

    def write_result(self, result: RunResult) -> None:
        atomic_write_json(self.result_file, result.to_json(), hint=self.write_hint)

    # ---- reads (tolerant: earlier schema versions and unknown keys are accepted) ----
    def read_metrics(self) -> list[dict]:
        """The epoch lines of ``metrics.jsonl`` as written (a line cut by a crash is skipped)."""
        return read_jsonl(self.metrics_file)

    def read_epochs(self) -> list[EpochRecord]:
        """The epoch records, typed."""
        from automl_nas.records.schema import EpochRecord

        return [EpochRecord.from_json(line) for line in self.read_metrics() if "epoch" in line]

    def read_arch_history(self) -> list[ArchSnapshot]:
        """The lines of ``arch_history.jsonl``, typed (parameters and probabilities per epoch)."""
        from automl_nas.records.schema import ArchSnapshot

        return [ArchSnapshot.from_json(line) for line in read_jsonl(self.history_file) if "epoch" in line]

    def unended_status(self) -> str:
        """The status of a run without ``result.json``: ``running`` (its process holds the lock
        on this host), ``killed`` (the lock's process is gone) or ``running or killed`` (the
        lock is another host's, or none is left, as on a driver whose trial runs on a node)."""
        return {"held": "running", "stale": "killed"}.get(lock_state(self.path), "running or killed")

    def read_result(self) -> RunResult | None:
        """``result.json`` typed, or ``None`` while the run has not ended; a damaged file is a
        :class:`~automl_nas.errors.RunError` naming it."""
        from automl_nas.records.schema import RunResult

        if not self.result_file.exists():
            return None
        try:
            raw = json.loads(self.result_file.read_text(encoding="utf-8"))
            return RunResult.from_json(raw)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # the resume reads it too: it must be moved aside before the run can write it again
            raise RunError(f"{self.result_file}: not a readable result record ({type(exc).__name__}: {exc})",
                           hint=f"the file was cut or edited; the epoch records in metrics.jsonl are intact: move it "
                                f"aside (mv {self.result_file} {self.result_file}.damaged), then `{self.resume} "
                                f"{self.path}` writes it again from the last checkpoint") from None


def _record(line: str) -> dict | None:
    """One JSONL line's record; ``None`` for a blank line or one cut by a crash."""
    if not line.strip():
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def _text_lines(path: Path) -> list[str]:
    """The lines of a records file; a line with bytes that are not UTF-8 (a damaged disk, an
    edit) is left out, as a line cut by a crash is."""
    lines = []
    for raw in path.read_bytes().splitlines():
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            continue
    return lines


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file (a line cut by a crash is skipped); none when it is absent."""
    if not path.exists():
        return []
    return [rec for line in _text_lines(path) if (rec := _record(line)) is not None]


def environment(device: str, seed: int, dataset: str, source: str = "") -> dict:
    import platform
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.startswith("automl-nas") or name in ("torch", "torchvision", "numpy", "pluggy", "attrs", "cattrs", "ray", "optuna"):
            packages[name] = dist.version
    info = {"python": platform.python_version(), "platform": platform.platform(), "packages": dict(sorted(packages.items())),
            "device": device, "seed": seed, "dataset": dataset, "dataset_source": source,
            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}  # torchrun processes: a resume must match
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available() and device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001
        pass
    return info
