"""Study storage from a recipe string, and which RUNNING trials are really dead.

``sqlite:///PATH`` or any SQLAlchemy URL (``postgresql://...``) opens an RDB storage;
``journal:PATH`` opens Optuna's ``JournalStorage`` over a ``JournalFileBackend``, the one
Optuna recommends for NFS and many workers. Several drivers (on several machines) may share
one study: each trial records its driver (host, pid) and a heartbeat (a user attribute the
driver refreshes while the trial runs), so a starting driver fails and re-queues only the
trials whose driver is gone, never another driver's live ones (issue 14).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

__all__ = ["CONTINUES_ATTR", "DRIVER_ATTR", "Heartbeat", "absolute_url", "dead_running_trials", "is_dead", "local_file",
           "open_storage", "owner", "queued_again", "storage_problem"]

#: Trial user attribute: ``{"host", "pid", "beat"}`` of the driver that asked for the trial.
DRIVER_ATTR = "automl_nas_driver"
#: Seconds between heartbeats, and the silence after which a trial of another host is dead.
BEAT_S = float(os.environ.get("AUTOML_NAS_STUDY_HEARTBEAT", "30"))
GRACE_S = 4 * BEAT_S
#: How long a starting driver waits for a RUNNING trial without a driver record to get one:
#: a live driver records itself right after asking for the trial, and one starting in that
#: window must not fail the trial (two drivers started together did, under load).
RECORD_WAIT_S = float(os.environ.get("AUTOML_NAS_STUDY_RECORD_WAIT", "3"))


#: The user attribute of a queued trial naming the trial directory it continues (a stopped
#: driver's running trials, and one a full disk stopped, are queued again with their parameters).
CONTINUES_ATTR = "continues"


def queued_again(trials: Iterable[tuple[str, Mapping[str, Any]]]) -> set[str]:
    """Names of the trial directories a waiting trial continues (``(state name, user attrs)`` of
    each stored trial), which the next driver continues from their checkpoints."""
    return {str(user[CONTINUES_ATTR]) for state, user in trials if state == "WAITING" and user.get(CONTINUES_ATTR)}


def absolute_url(url: str) -> str:
    """``url`` with a relative SQLite or journal file made absolute against the working directory.

    A relative path names another file in every directory a driver starts from, so a study
    directory's ``study.json`` would take a second study for its own (and hand it the first's
    trial directories); absolute, one URL names one file wherever the command runs.
    """
    if url.startswith("journal:"):
        return f"journal:{Path(url.removeprefix('journal:').removeprefix('//')).absolute()}"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path, query = url.removeprefix("sqlite:///"), ""
        if "?" in path:
            path, query = path.split("?", 1)
            query = "?" + query
        if path and path != ":memory:":
            return f"sqlite:///{Path(path).absolute()}{query}"
    return url


def in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``,
    ``sqlite+pysqlite:///:memory:``, ``...?mode=memory``): each opening is a new, empty one."""
    scheme, _, rest = url.partition("://")
    return scheme.split("+")[0] == "sqlite" and (rest.split("?")[0] in ("", "/", ":memory:", "/:memory:")
                                                 or "mode=memory" in rest)


def binding_record(study_dir: Path, name: str, url: str) -> dict[str, str]:
    """What ``study.json`` says of the storage that owns ``study_dir``: its URL, and a file inside
    the directory (the default ``study.db``) also relative to it, so that a moved or copied study
    directory still names its own file (it named the old place, and the hint sent the user there)."""
    record = {"study": name, "storage": url}
    local = local_file(url) if "?" not in url else None
    if local is not None and local.absolute().is_relative_to(study_dir.absolute()):
        record["storage_in_dir"] = str(local.absolute().relative_to(study_dir.absolute()))
    return record


def bound_storage(study_dir: Path, record: dict) -> str:
    """The storage URL a ``study.json`` record names for ``study_dir`` where it is now."""
    inside, url = record.get("storage_in_dir"), str(record.get("storage"))
    local = local_file(url) if "?" not in url else None
    if not inside and local is not None and not local.exists() and local.parent.name == study_dir.name \
            and (study_dir / local.name).is_file():  # written before storage_in_dir: the file moved with it
        inside = local.name
    if isinstance(inside, str) and inside:
        scheme = "journal:" if url.startswith("journal:") else "sqlite:///"
        return absolute_url(f"{scheme}{(study_dir / inside).absolute()}")
    return absolute_url(url)


def storage_problem(url: str) -> str:
    """Why ``url`` cannot be a study's storage, found without opening it (``automl validate``
    said ok to each, and only the study refused them): not a URL, a database kind SQLAlchemy
    does not know, a file that is a directory or whose folder does not exist. Empty: no
    problem found (a server may still refuse the connection)."""
    file = local_file(url)
    if not url.startswith("journal:"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(url).get_dialect()
        except NoSuchModuleError:  # an ArgumentError too: caught first
            return f"names a database kind SQLAlchemy does not know ({url.split('://', 1)[0]!r})"
        except ArgumentError:
            return "is not a storage URL"
        except ImportError as exc:  # the dialect's own module needs a package
            return f"needs a package that is not installed ({exc})"
    if file is not None and file.is_dir():
        return f"names the directory {file}, not a file"
    if file is not None and not file.absolute().parent.is_dir():
        return f"names a file in {file.absolute().parent}, which does not exist"
    return ""


def local_file(url: str) -> Path | None:
    """The file a ``journal:PATH`` or ``sqlite:///PATH`` storage keeps its study in; ``None``
    for a database server."""
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:").removeprefix("//"))
    if url.startswith("sqlite:///"):  # SQLAlchemy's options (`?timeout=5`) follow the path
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    return None


def open_storage(url: str) -> Any:
    """What ``optuna.create_study(storage=...)`` takes for ``url``."""
    import warnings

    # List choices (Adam's betas) are allowed: Optuna stores them as JSON and reads them back whole,
    # but warned twice per trial, and again for every trial read back, that they might not be.
    warnings.filterwarnings("ignore", message="Choices for a categorical distribution should be", category=UserWarning)
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(local_file(url))))
    return url


def owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "beat": time.time()}


def is_dead(attrs: dict[str, Any], now: float | None = None) -> bool:
    """A RUNNING trial is dead when its driver is a process gone from this host, or (any host)
    silent for longer than :data:`GRACE_S`; one without a driver record (older versions, or
    a driver killed before recording it) is dead too."""
    from automl_nas.records.lock import pid_alive

    if not _has_record(attrs):
        return True
    rec = attrs[DRIVER_ATTR]
    if rec.get("host") == socket.gethostname() and isinstance(rec.get("pid"), int):
        return rec["pid"] != os.getpid() and not pid_alive(rec["pid"])
    return (now or time.time()) - float(rec.get("beat", 0)) > GRACE_S


def _has_record(attrs: dict[str, Any]) -> bool:
    """Whether a trial's user attributes carry a driver record (:data:`DRIVER_ATTR`)."""
    return isinstance(attrs.get(DRIVER_ATTR), dict)


def dead_running_trials(study: Any, *, wait_s: float | None = None) -> list[Any]:
    """The RUNNING trials of ``study`` whose driver is dead (:func:`is_dead`).

    Trials without a driver record are read again after ``wait_s`` (default
    :data:`RECORD_WAIT_S`): only those still without one (their driver died between asking and
    recording) count as dead, not another live driver's trial asked for a moment ago.
    """
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not all(_has_record(t.user_attrs) for t in running):
        time.sleep(RECORD_WAIT_S if wait_s is None else wait_s)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if is_dead(t.user_attrs)]


class Heartbeat:
    """Refreshes the driver record of this driver's running trials every :data:`BEAT_S` s."""

    def __init__(self) -> None:
        self.trials: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="study-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=BEAT_S + 5)

    def add(self, trial: Any) -> None:
        trial.set_user_attr(DRIVER_ATTR, owner())
        with self.lock:
            self.trials[trial.number] = trial

    def done(self, trial: Any) -> None:
        with self.lock:
            self.trials.pop(trial.number, None)

    def _run(self) -> None:
        while not self.stop.wait(BEAT_S):
            with self.lock:
                live = list(self.trials.values())
            for trial in live:
                try:
                    trial.set_user_attr(DRIVER_ATTR, owner())
                except Exception:  # noqa: BLE001 - a trial told meanwhile; the next beat skips it
                    self.done(trial)
