"""The Ray Tune executor: each trial is a Tune trial of a function trainable.

Resources come from the recipe (``[executor] cpus``, ``gpus``; fractional GPUs
pack several trials on one device), retries from ``FailureConfig(max_failures)``.
Ray is imported only when this executor is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from automl_nas.errors import RunError
from automl_nas.execution.trial import TrialResult, TrialSpec, attempt_log, read_attempts, read_trial_result, run_trial
from automl_nas.hookspecs import hookimpl

__all__ = ["check_address", "connect", "ray_output", "resolve_address", "run_on_ray", "runtime_env_for", "short_error",
           "use_token_auth"]


def ray_output() -> bool:
    """Whether Ray's own console output (Tune's tables, worker logs, Ray's INFO lines) is shown:
    off by default, on with ``AUTOML_NAS_RAY_OUTPUT=1`` (``automl run --ray-output``). The
    tool prints one line per trial instead (issue 14: ~90 lines per batch otherwise)."""
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
    try:
        if address:
            kwargs.pop("include_dashboard")
            ray.init(address=address, runtime_env=runtime_env, **kwargs)
        else:
            # "local" forces a new instance even when a `ray start` cluster runs on this machine.
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError
        raise RunError(f"cannot connect to Ray at {address or 'a new local instance'}: {short_error(exc)}",
                       hint=_connect_hint(exc)) from exc
    return True


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
    of retries. Presenting a token is harmless to a head without authentication, and a new
    local instance enables it anyway. An explicit ``RAY_AUTH_MODE`` (``token`` or
    ``disabled``) is always respected.
    """
    if "RAY_AUTH_MODE" not in os.environ and token_available():
        os.environ["RAY_AUTH_MODE"] = "token"


def _connect_hint(exc: BaseException) -> str:
    text = f"{type(exc).__name__} {exc}"
    if "uth" in text and ("oken" in text or "Authentication" in text):
        return ("the cluster uses token authentication: set RAY_AUTH_MODE=token and give the head's token "
                "(RAY_AUTH_TOKEN=..., or the file ~/.ray/auth_token; `ray get-auth-token` on the head prints it)")
    return "start a cluster with `ray start --head` and pass the address it prints (or set RAY_ADDRESS), or unset it"


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
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"Ray address {address!r} is not HOST:PORT (or auto)",
                       hint="pass the address `ray start --head` printed, e.g. 10.0.0.5:6379")
    timeout = float(os.environ.get("AUTOML_NAS_RAY_TIMEOUT", "30"))
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RunError(f"cannot reach the Ray head at {host}:{port} (tried a TCP connection for up to {timeout:g} s: "
                       f"{exc.strerror or exc})",
                       hint="check that `ray start --head` runs there and the port is open, or drop --address "
                            "(and RAY_ADDRESS) to run on this machine") from None


class EpochToTune:
    """Reports every epoch record to Tune (``tune.report``), flattened to dotted numeric keys
    (``train_loss``, ``eval.cifar10``), so Tune's progress, ``progress.csv``, TensorBoard and
    its schedulers see the search as it runs, not only its end. With ``attempt_log`` (a batch
    with ``[executor] storage``) each report carries the trial's checkpoint
    (:mod:`automl_nas.execution.tune_checkpoints`)."""

    def __init__(self, attempt_log: Path | None = None) -> None:
        self.attempt_log = attempt_log

    @hookimpl
    def automl_epoch_end(self, run, epoch: int, metrics: dict) -> None:
        from ray import tune

        from automl_nas.execution.aggregate import flatten_numeric

        record = {**flatten_numeric(metrics), "epoch": epoch, "num_epochs": int(run.num_epochs)}
        if self.attempt_log is None:
            tune.report(record)
        else:
            from automl_nas.execution.tune_checkpoints import report_with_checkpoint

            report_with_checkpoint(record, Path(run.run_dir.path), self.attempt_log)


def _epoch_callback(on_epoch):
    """A Tune callback in the driver: each epoch report becomes an
    :class:`~automl_nas.execution.epochs.EpochEvent` for ``on_epoch`` (the batch's progress
    lines), the same stream the other executors give."""
    from ray import tune

    from automl_nas.execution.epochs import EpochEvent

    class EpochLines(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("trial_end") or "epoch" not in result:
                return  # the trial's final record, not an epoch
            metrics = {k: float(v) for k, v in result.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _TUNE_KEYS}
            on_epoch(EpochEvent(trial=_trial_name(trial), epoch=int(result["epoch"]),
                                num_epochs=int(result.get("num_epochs", 0)), metrics=metrics))

    return EpochLines()


# What Tune adds to every report (not the search's own metrics).
_TUNE_KEYS = {"epoch", "num_epochs", "trial_end", "timestamp", "time_this_iter_s", "time_total_s", "training_iteration",
              "pid", "time_since_restore", "iterations_since_restore", "done", "episodes_total", "timesteps_total"}


def _trainable(config: dict) -> None:
    # Runs on a Ray worker; it rebuilds the spec and its own plugin manager.
    from ray import tune

    from automl_nas.execution.placement import ray_placement
    from automl_nas.execution.sync import run_shipped

    spec = TrialSpec(**config["spec"])
    placement, checkpoints = ray_placement(), bool(config.get("checkpoints"))

    def attempt(local: TrialSpec) -> dict:
        log = attempt_log(local)
        if checkpoints:  # a retry resumes from Tune's latest checkpoint of this trial, on any node
            from automl_nas.execution.tune_checkpoints import restore_latest

            restore_latest(Path(local.run_dir), log)
        progress = [(EpochToTune(log if checkpoints else None), "tune-epoch-report")]
        return run_trial(local, extra_plugins=progress, placement=placement)

    if config.get("sink"):  # a cluster: records go back to the driver through the sink
        result = run_shipped(spec, config["sink"], config["recipes"][spec.recipe_path], attempt)
    else:
        result = attempt(spec)
    # The final record for Tune's tables: the result's numbers; the driver reads result.json itself
    # (in place, or written into the batch directory by the sink before this report).
    from automl_nas.execution.aggregate import flatten_numeric

    tune.report({**flatten_numeric(result), "status": result.get("status", "finished"), "trial_end": 1})


def run_on_ray(specs: Iterable[TrialSpec], *, cpus: float = 1.0, gpus: float = 0.0, retries: int = 0,
               storage: str | Path, address: str | None = None, quiet: bool = True,
               on_result: Callable[[TrialResult], None] | None = None, experiment: str = "tune",
               on_epoch: Callable | None = None, checkpoint_storage: str = "") -> list[TrialResult]:
    """Run the specs as parallel Tune trials (Tune experiment ``experiment`` under ``storage``);
    failed trials are recorded, never raised; ``on_epoch`` receives every epoch of every trial
    (an :class:`~automl_nas.execution.epochs.EpochEvent`) in the driver while they run.
    ``checkpoint_storage`` (a path or URI every node reaches) becomes Tune's storage, and each
    trial hands Tune a checkpoint after every epoch (``<batch>-<experiment>`` under it)."""
    import attrs

    # Quiet unless asked (ray_output): Tune reads these when ray.tune is first imported.
    quiet = quiet or not ray_output()
    if quiet:
        os.environ.setdefault("AIR_VERBOSITY", "0")
        # Tune's new output engine prints its experiment banner even at verbosity 0; the
        # legacy reporter (RAY_AIR_NEW_OUTPUT=0, a documented switch) prints nothing at 0.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    use_token_auth()
    # Trials stay in the (shipped) working directory, so relative paths in recipes hold; Tune
    # passes this variable from the driver to its trainables.
    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    from ray import tune

    specs = list(specs)
    address = resolve_address(address)
    # On a cluster nothing is shared but the driver: the working directory travels as the
    # job's runtime_env and records come back through a sink (automl_nas.execution.sync).
    shipped = [_shippable(s) for s in specs] if address else specs
    started = connect(address, quiet=quiet, runtime_env=runtime_env_for(Path(storage).resolve().parent) if address else None)
    sink = None
    try:
        if address:
            from automl_nas.execution.sync import start_sink

            sink, sink_name = start_sink(Path(storage).resolve().parent)
        trainable = tune.with_resources(_trainable, {"cpu": cpus, "gpu": gpus})
        tuner = tune.Tuner(
            trainable,
            param_space={"spec": tune.grid_search([attrs.asdict(s) for s in shipped]),
                         "sink": sink_name if sink is not None else "",
                         "checkpoints": bool(checkpoint_storage),
                         "recipes": {s.recipe_path: Path(s.recipe_path).read_text(encoding="utf-8")
                                     for s in specs} if address else {}},
            tune_config=tune.TuneConfig(num_samples=1, reuse_actors=False, trial_name_creator=_trial_name,
                                        trial_dirname_creator=_trial_name),
            run_config=tune.RunConfig(name=f"{Path(storage).resolve().parent.name}-{experiment}" if checkpoint_storage
                                      else experiment, storage_path=_storage_path(checkpoint_storage or storage),
                                      verbose=0 if quiet else 1,
                                      failure_config=tune.FailureConfig(max_failures=retries),
                                      callbacks=[_epoch_callback(on_epoch)] if on_epoch else None),
        )
        # stdout carries only the command's JSON summary; Tune's banner and tables go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            grid = tuner.fit()
        by_dir = {s.run_dir: s for s in specs}
        results = [_collect(grid[i], by_dir) for i in range(len(grid))]
    finally:
        import ray

        if sink is not None:
            ray.kill(sink)
        if started:
            ray.shutdown()
    order = {s.run_dir: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order[r.spec.run_dir])
    if on_result is not None:
        for r in results:
            on_result(r)
    return results


def _storage_path(storage: str | Path) -> str:
    # Tune wants an absolute local path; a URI (s3://, gs://, file://) is passed as it is.
    return str(storage) if "://" in str(storage) else str(Path(storage).resolve())


def _trial_name(trial) -> str:
    # `seed-3`, not Tune's default: the stringified spec dict (issue 14).
    return trial.config["spec"]["name"] or Path(trial.config["spec"]["run_dir"]).name


def _shippable(spec: TrialSpec) -> TrialSpec:
    """``spec`` as a node without the driver's disk runs it: no ``chdir`` (the worker starts in
    the shipped working directory); the recipe's text travels in the trial's config."""
    import attrs

    return attrs.evolve(spec, workdir="")


def runtime_env_for(batch_dir: str | Path) -> dict:
    from automl_nas.execution.sync import ship_runtime_env

    cwd = Path(os.getcwd())
    excludes = [".git", ".venv", "runs"]
    batch = Path(batch_dir).resolve()
    if batch.is_relative_to(cwd):
        excludes.append("/" + str(batch.relative_to(cwd)))  # anchored: gitignore-style pattern
    return ship_runtime_env(cwd, excludes)


def _collect(result, by_dir: dict[str, TrialSpec]) -> TrialResult:
    spec = by_dir[result.config["spec"]["run_dir"]]
    attempts = read_attempts(spec)
    payload = read_trial_result(spec.run_dir)
    if result.error is None and payload is not None:
        return TrialResult(spec=spec, status=payload.get("status", "finished"), result=payload, attempts=max(len(attempts), 1))
    from automl_nas.execution.trial import failed_result

    return failed_result(spec, fallback_error=short_error(result.error))


def short_error(error: BaseException | None) -> str:
    if error is None:
        return "the trial reported no result"
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
