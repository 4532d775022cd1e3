"""Joining Ray: which cluster, token authentication, what travels to its nodes, and the
driver-side session every Ray use of the tool goes through (issue 14).

:class:`RaySession` joins the cluster (``--address``, ``[executor] address`` or ``RAY_ADDRESS``)
or starts a private Ray on this machine, ships the working directory to a cluster's nodes, and
starts the actors on the driver's node that trials talk to: the record sink (a cluster: trial
records come back to the driver, :mod:`automl_nas.execution.sync`) and the epoch channel
(:mod:`automl_nas.execution.channel`). Seed batches on Tune (:mod:`automl_nas.execution.ray`),
study trials as Ray tasks (:mod:`automl_nas.execution.executor`) and black-box evaluations use it.
Ray is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import attrs

from automl_nas.errors import RunError

__all__ = ["RaySession", "Shipping", "check_address", "connect", "joined_cluster", "nodes_not_seeing", "ray_output", "ray_task_options",
           "refuse_unplaceable", "resolve_address", "runtime_env_for", "short_error", "use_token_auth"]


def ray_output() -> bool:
    """Whether Ray's own console output (Tune's tables, worker logs, Ray's INFO lines) is shown:
    off by default, on with ``AUTOML_NAS_RAY_OUTPUT=1`` (``automl run --ray-output``). The
    tool prints one line per trial instead (issue 14: 4 lines for a two-seed, one-epoch batch, against 123)."""
    return os.environ.get("AUTOML_NAS_RAY_OUTPUT", "") not in ("", "0")


def resolve_address(address: str | None) -> str | None:
    """The cluster to join: ``address`` (``--address`` or ``executor.address``), else
    ``RAY_ADDRESS`` (set by ``ray job submit`` for its driver), else ``None``: a private
    Ray instance on this machine."""
    return address or os.environ.get("RAY_ADDRESS") or None


def connect(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = True,
            runtime_env: dict | None = None) -> bool:
    """Start or join Ray; returns ``True`` when this call started it (so the caller shuts it down).

    ``address``: ``auto`` (the cluster this node belongs to) or the ``HOST:PORT`` printed by
    ``ray start --head``; ``None`` uses ``RAY_ADDRESS`` when it is set, else starts a local
    instance with ``num_cpus``. Token authentication (on by default on current Ray heads) is
    switched on for this process when a token is available; see :func:`use_token_auth`.
    """
    use_token_auth()  # before `import ray`: Ray reads RAY_AUTH_MODE once, when it is imported
    import ray

    if ray.is_initialized():
        return False  # e.g. a test fixture or a notebook already connected
    address = resolve_address(address)
    if address and address != "auto":
        check_address(address)
    quiet = quiet or not ray_output()
    kwargs = {"log_to_driver": not quiet, "include_dashboard": False}
    if quiet:
        kwargs["logging_level"] = logging.WARNING
    said = ""
    try:
        with _python_sigterm_kept():
            if address:
                kwargs.pop("include_dashboard")
                # Ray's core logs a refused token once a second for ~20 s on stderr, before Python hears
                # only "Failed to connect": held back, read for the reason, shown only if asked for.
                with _stderr_held() as held:
                    try:
                        ray.init(address=address, runtime_env=runtime_env, **kwargs)
                    finally:
                        said = held.text()
            else:
                # "local" forces a new instance even when a `ray start` cluster runs on this machine.
                ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError
        if not quiet:
            sys.stderr.write(said)
        raise RunError(f"cannot connect to Ray at {address or 'a new local instance'}: {short_error(exc)}"
                       f"{_refusal(said)}", hint=_connect_hint(exc, said)) from exc
    if not quiet:
        sys.stderr.write(said)
    return True


@contextlib.contextmanager
def _python_sigterm_kept() -> Iterator[None]:
    """``ray.init`` installs Ray's failure handler for SIGTERM (absl's: it prints a C++ stack
    dump and aborts the driver) over the one Python had: a command that turned SIGTERM into its
    interruption before joining (a black-box search) died with the dump instead. Python's handler
    is put back. Off the main thread nothing can be set, and nothing is."""
    import signal

    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if before is not None:
            try:
                signal.signal(signal.SIGTERM, before)
            except ValueError:
                pass


class _HeldStream:
    def __init__(self, file: Any) -> None:
        self._file = file

    def text(self) -> str:
        self._file.flush()
        self._file.seek(0)
        return self._file.read().decode("utf-8", errors="replace")


@contextlib.contextmanager
def _stderr_held() -> Iterator[_HeldStream]:
    """This process's file descriptor 2 (Ray's C++ core writes there) into a temporary file for
    the block. Joining a cluster starts no process here that would inherit it."""
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as file:
        saved = os.dup(2)
        os.dup2(file.fileno(), 2)
        try:
            yield _HeldStream(file)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _refusal(said: str) -> str:
    """Why the head refused this client, from what Ray's core logged while joining."""
    if "InvalidAuthToken" in said or "Unauthenticated" in said:
        return (" (the head refused this client's token: InvalidAuthToken)" if os.environ.get("RAY_AUTH_MODE") == "token"
                else " (the head asks for a token, and this client sent none: InvalidAuthToken)")
    return ""


def token_available() -> bool:
    """Whether this process can present a Ray token: ``RAY_AUTH_TOKEN``, the file named by
    ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token`` (where ``ray start --head`` and
    ``ray get-auth-token --generate`` put it)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


def use_token_auth() -> None:
    """With ``RAY_AUTH_MODE`` unset and a token at hand, set ``RAY_AUTH_MODE=token`` for this
    process (and what it starts). Call it before ``import ray``: Ray reads the mode when imported.

    ``ray start --head`` turns token authentication on when a token exists (``~/.ray/auth_token``,
    which any local ``ray.init()`` creates), but a client joining by explicit address (argument
    or ``RAY_ADDRESS``) does not, and the head rejects it with ``InvalidAuthToken`` after ~20 s
    of retries. A new local instance enables it anyway. A head started without authentication
    cancels the actors of a client that presents a token: :class:`RaySession` says so, naming
    ``RAY_AUTH_MODE=disabled``. An explicit ``RAY_AUTH_MODE`` (``token`` or
    ``disabled``) is always respected.
    """
    global _PRESENTED_TOKEN
    if "RAY_AUTH_MODE" not in os.environ and token_available():
        os.environ["RAY_AUTH_MODE"] = "token"
        _PRESENTED_TOKEN = True


#: Whether :func:`use_token_auth` chose token authentication for this process (the user did not).
_PRESENTED_TOKEN = False


def lost_to_ray(exc: BaseException) -> bool:
    """Whether ``exc`` is Ray's own failure (a worker, node or the head lost, an actor that never
    started), not an error of the work a task ran (Ray wraps those in ``RayTaskError``)."""
    ray = sys.modules.get("ray")
    errors = getattr(ray, "exceptions", None)
    return errors is not None and isinstance(exc, errors.RayError) and not isinstance(exc, errors.RayTaskError)


_TOKEN_HINT = ("the cluster uses token authentication: set RAY_AUTH_MODE=token and give the head's token "
               "(RAY_AUTH_TOKEN=..., or the file ~/.ray/auth_token; `ray get-auth-token` on the head prints it)")


def _connect_hint(exc: BaseException, said: str = "") -> str:
    text = f"{type(exc).__name__} {exc}"
    if _refusal(said) or ("uth" in text and ("oken" in text or "Authentication" in text)):
        return _TOKEN_HINT
    return ("start a cluster with `ray start --head` and pass the address it prints (or set RAY_ADDRESS), or unset "
            "it; AUTOML_NAS_RAY_OUTPUT=1 shows what Ray logged while joining")


def _first_actor_hint() -> str:
    if _PRESENTED_TOKEN:
        return ("this client presented a Ray token (RAY_AUTH_TOKEN or ~/.ray/auth_token) by itself; a head started "
                "without token authentication cancels its actors: set RAY_AUTH_MODE=disabled for automl, or start "
                "the head with RAY_AUTH_MODE=token")
    return "check the cluster with `ray status` on the head, or drop --address (and RAY_ADDRESS) to run on this machine"


@contextlib.contextmanager
def joined_cluster(address: str | None, root: str | Path, *, quiet: bool = True, cpus: float = 0.0,
                   gpus: float = 0.0, source: str = "") -> Iterator[None]:
    """Join the cluster the work will run on (``address``, else ``RAY_ADDRESS``), if any, before
    the command creates its directory: a head that is unreachable, that refuses this client's
    token, or that has no node for a task of ``cpus`` and ``gpus`` (:func:`refuse_unplaceable`)
    leaves nothing behind (a batch's ``batch.json``, a study's empty storage). The command's
    :class:`RaySession` then finds Ray joined; the cluster is left when the block ends.
    ``root``: where the command's directories go (not shipped to the nodes); ``source``: the recipe
    that asks for ``cpus`` and ``gpus``, named in the refusal. Without a cluster they are checked
    against this machine's CPUs and the GPUs torch sees (the private Ray the work starts offers
    those)."""
    address = resolve_address(address)
    if not address:
        here = float(os.cpu_count() or 1)
        if cpus > here:
            raise _unplaceable(cpus, gpus, [(here, None)], None, source)
        if gpus > 0:
            import torch  # the trials' own view of the GPUs (CUDA_VISIBLE_DEVICES, a CPU-only build)

            visible = float(torch.cuda.device_count() if torch.cuda.is_available() else 0)
            if gpus > visible:
                raise _unplaceable(cpus, gpus, [(here, visible)], None, source)
        yield
        return
    if address != "auto":
        check_address(address)
    started = connect(address, quiet=quiet, runtime_env=runtime_env_for(root))
    try:
        refuse_unplaceable(cpus, gpus, address, source)
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise
    try:
        yield
    finally:
        if started:
            import ray

            ray.shutdown()


def refuse_unplaceable(cpus: float, gpus: float, address: str | None, source: str = "") -> None:
    """Refuse tasks of ``cpus`` and ``gpus`` that no live node of the joined Ray can hold: Ray
    queues such a task until a node that can joins, so every trial waited, silently, for good.
    On a cluster that starts such nodes on demand (an autoscaler),
    ``AUTOML_NAS_RAY_WAIT_FOR_NODES=1`` submits them anyway."""
    if os.environ.get("AUTOML_NAS_RAY_WAIT_FOR_NODES", "") not in ("", "0"):
        return
    import ray

    offers = [(float(r.get("CPU", 0.0)), float(r.get("GPU", 0.0)))
              for r in (n.get("Resources", {}) for n in ray.nodes() if n.get("Alive"))]
    if not any(c >= cpus and g >= gpus for c, g in offers):
        raise _unplaceable(cpus, gpus, offers, address, source)


def _unplaceable(cpus: float, gpus: float, offers: list[tuple[float, float | None]], address: str | None,
                 source: str = "") -> RunError:
    """``offers``: each node's CPUs and GPUs (``None``: not known yet)."""
    def plural(n: float, unit: str) -> str:
        return f"{n:g} {unit}" + ("" if n == 1 else "s")

    best_cpus = max((c for c, _ in offers), default=0.0)
    best_gpus = max((g for _, g in offers if g is not None), default=0.0)
    if address:
        where = f"no node of the Ray cluster at {address} has them (its largest offers {plural(best_cpus, 'CPU')} " \
                f"and {plural(best_gpus, 'GPU')}"
        where += f"; {len(offers)} nodes)" if len(offers) != 1 else ")"
    elif offers and offers[0][1] is None:
        where = f"this machine has {plural(best_cpus, 'CPU')} for the private Ray that runs them"
    else:
        where = f"this machine has {plural(best_cpus, 'CPU')} and {plural(best_gpus, 'GPU')} for the private Ray that runs them"
    fixes = []
    if cpus > best_cpus:
        fixes.append(f"executor.cpus at most {best_cpus:g} (--set executor.cpus={best_cpus:g})")
    if offers and offers[0][1] is not None and gpus > best_gpus:
        fixes.append(f"executor.gpus at most {best_gpus:g} (--set executor.gpus={best_gpus:g})"
                     if best_gpus else "executor.gpus = 0 (no GPU is there)")
    hint = "set " + " and ".join(fixes) if fixes else "set executor.cpus and executor.gpus to what one node has"
    hint += ", or run on a cluster whose nodes have them"
    if address:
        hint += "; a cluster that starts such nodes on demand: AUTOML_NAS_RAY_WAIT_FOR_NODES=1 submits the trials anyway"
    wait = "until such a node joins" if address else "for good"
    return RunError(f"{source + ': ' if source else ''}each trial asks Ray for {plural(cpus, 'CPU')} and {plural(gpus, 'GPU')} (executor.cpus, "
                    f"executor.gpus), but {where}: Ray would hold every trial back {wait}", hint=hint)


def check_address(address: str) -> None:
    """Ray retries an unreachable head for minutes; a plain TCP connect answers at once (refused)
    or within ``AUTOML_NAS_RAY_TIMEOUT`` seconds (default 30).

    ``ray://`` (Ray Client) is refused: Ray's docs advise against it for Tune and long jobs,
    since the driver's connection must survive the whole batch."""
    import socket

    if address.startswith("ray://"):
        raise RunError(f"Ray address {address!r}: Ray Client (ray://) is not supported for trials",
                       hint="submit the command to the cluster with `ray job submit --working-dir . -- automl ...`, "
                            "or run it on a node of the cluster with --address HOST:PORT (the GCS port, 6379 by default)")
    if address.startswith(("http://", "https://")):
        raise RunError(f"Ray address {address!r} is a dashboard's (what `ray job submit --address` takes), not the "
                       f"head's GCS address", hint=_GCS_HINT)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"Ray address {address!r} is not HOST:PORT (or auto)",
                       hint="pass the address `ray start --head` printed, e.g. 10.0.0.5:6379")
    timeout = float(os.environ.get("AUTOML_NAS_RAY_TIMEOUT", "30"))
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as exc:
        raise RunError(f"cannot reach the Ray head at {host}:{port} (tried a TCP connection for up to {timeout:g} s: "
                       f"{exc.strerror or exc})",
                       hint="check that `ray start --head` runs there and the port is open, or drop --address "
                            "(and RAY_ADDRESS) to run on this machine") from None
    with conn:
        greeting = _greeting(conn)
    # Ray would retry such a port for good (ray.init has no timeout): it never speaks GCS.
    if greeting.startswith(b"HTTP/"):
        raise RunError(f"{host}:{port} answers HTTP (the Ray dashboard, or another web server), not as the head's "
                       f"GCS port", hint=_GCS_HINT)
    if not _http2_settings(greeting) and os.environ.get("RAY_USE_TLS", "0") in ("", "0"):
        said = f"answered {greeting[:16]!r}" if greeting else "said nothing within 5 s"
        raise RunError(f"{host}:{port} accepts connections but does not answer as a Ray head's GCS port does (it "
                       f"{said}; a GCS opens with an HTTP/2 SETTINGS frame): another program holds the port, or the "
                       f"address is stale", hint=_GCS_HINT + "; `ray status` on the head prints its address")


_GCS_HINT = ("pass the address `ray start --head` printed, HOST:PORT of its GCS (port 6379 by default); the dashboard's "
             "http://HOST:8265 is for `ray job submit --address`")


def _greeting(conn: Any) -> bytes:
    """The first bytes the server on ``conn`` sends after an HTTP/1.0 request: a web server's
    status line, or a gRPC server's (the GCS's) own SETTINGS frame, which it sends at once on
    any connection; empty for a server that says nothing or closes."""
    import time

    got, deadline = b"", time.monotonic() + 5.0
    try:
        conn.settimeout(5.0)
        conn.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
        while len(got) < 9:  # a frame header may arrive in pieces (TCP keeps no message bounds)
            conn.settimeout(max(deadline - time.monotonic(), 0.01))
            piece = conn.recv(9 - len(got))
            if not piece:
                break
            got += piece
    except OSError:
        pass
    return got


def _http2_settings(frame: bytes) -> bool:
    # An HTTP/2 frame header: 3 bytes of length, the type (4: SETTINGS), flags, stream 0.
    return len(frame) >= 4 and frame[3] == 0x04


def runtime_env_for(batch_dir: str | Path) -> dict:
    from automl_nas.execution.sync import ship_runtime_env

    cwd = Path(os.getcwd())
    excludes = [".git", ".venv", "runs"]
    batch = Path(batch_dir).resolve()
    if batch.is_relative_to(cwd):
        excludes.append("/" + str(batch.relative_to(cwd)))  # anchored: gitignore-style pattern
    return ship_runtime_env(cwd, excludes)


def short_error(error: BaseException | None) -> str:
    """One line of ``error``: the last of a task's own error (a traceback's message), the first of
    Ray's (its summary: "Task was killed due to the node running low on memory.", not the link
    to the documentation that ends it)."""
    if error is None:
        return "the trial reported no result"
    cause = getattr(error, "cause", None) or error
    text = [line for line in str(cause).strip().splitlines() if line.strip()]
    if not text:
        return type(cause).__name__
    return text[0] if lost_to_ray(cause) else text[-1]


@attrs.frozen(kw_only=True)
class Shipping:
    """What a Ray task needs besides its spec: the record sink (a cluster without a shared
    file system; empty on one machine), the recipe's text and the epoch channel."""

    sink: str = ""
    recipe_text: str = ""
    channel: str = ""


@attrs.define
class RaySession:
    """Ray joined (``address`` or ``RAY_ADDRESS``) or started locally for the life of a ``with``
    block, with the epoch channel and, on a cluster, the record sink for ``batch_dir``; the
    connection every Ray task of the tool goes through (study trials, black-box evaluations).

    On a cluster nothing is assumed shared with its nodes: the working directory travels as the
    job's ``runtime_env``; a private local Ray shares this machine's disk and needs no sink."""

    batch_dir: Path
    address: str | None = None
    quiet: bool = True
    stream: bool = True  # start the epoch channel (Tune has its own stream: its callbacks)
    cpus: float = 0.0  # what one task asks for: refused when no node has it (refuse_unplaceable)
    gpus: float = 0.0
    shipping: Shipping = Shipping()
    channel: Any = None
    _sink: Any = None
    _started: bool = False

    @property
    def cluster(self) -> bool:
        return bool(self.address)

    def __enter__(self) -> "RaySession":
        use_token_auth()  # before `import ray`: Ray reads RAY_AUTH_MODE when imported
        from automl_nas.execution.channel import start_channel

        self.address = resolve_address(self.address)
        self._started = connect(self.address, quiet=self.quiet,
                                runtime_env=runtime_env_for(self.batch_dir) if self.address else None)
        try:
            refuse_unplaceable(self.cpus, self.gpus, self.address)
            self.channel, channel_name = start_channel() if self.stream else (None, "")
            sink_name = ""
            if self.address:
                from automl_nas.execution.sync import start_sink

                self._sink, sink_name = start_sink(Path(self.batch_dir).resolve())
            self.shipping = Shipping(sink=sink_name, channel=channel_name)
        except BaseException as exc:
            self.__exit__()
            if lost_to_ray(exc):
                raise RunError(f"Ray at {self.address or 'this machine'} could not start this command's first actor "
                               f"({short_error(exc)})", hint=_first_actor_hint()) from None
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        import ray

        for actor in (self._sink, self.channel):
            if actor is not None:
                ray.kill(actor)
        self._sink = self.channel = None
        if self._started:
            ray.shutdown()
            self._started = False


def nodes_not_seeing(path: Path) -> list[str]:
    """Ids of the live Ray nodes that do not see ``path`` (a marker this driver writes there):
    for work that must write into the driver's directory in place."""
    import uuid

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    marker = Path(path) / f".probe-{uuid.uuid4().hex[:12]}"
    marker.touch()
    try:
        probe = ray.remote(num_cpus=0)(_exists)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        seen = ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=n, soft=False))
                        .remote(str(marker)) for n in nodes], timeout=120)
    finally:
        marker.unlink(missing_ok=True)
    return [n for n, ok in zip(nodes, seen) if not ok]


def _exists(path: str) -> bool:
    import os

    return os.path.exists(path)


def ray_task_options(cpus: float, gpus: float, retries: int) -> dict[str, Any]:
    """Resources and the one retry policy of a task: a failing attempt is retried like a lost
    worker, up to ``retries`` times (a trial's retry resumes from its checkpoint)."""
    return {"num_cpus": cpus, "num_gpus": gpus, "max_retries": retries, "retry_exceptions": True}
