"""The Ray Tune executor: each trial is a Tune trial of a function trainable.

Resources come from the recipe (``[executor] cpus``, ``gpus``; fractional GPUs
pack several trials on one device), retries from ``FailureConfig(max_failures)``.
Ray is imported only when this executor is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from automl_nas.errors import RunError
from automl_nas.execution.trial import TrialResult, TrialSpec, read_attempts, run_trial

__all__ = ["connect", "run_on_ray"]


def connect(address: str | None = None, *, num_cpus: int | None = None, quiet: bool = True) -> bool:
    """Start or join Ray; returns ``True`` when this call started it (so the caller shuts it down).

    ``address``: ``auto``, ``ray://host:port`` or the ``host:port`` printed by
    ``ray start --head``; ``None`` starts a local instance with ``num_cpus``.
    """
    import ray

    if ray.is_initialized():
        return False  # e.g. a test fixture or a notebook already connected
    if address and address != "auto":
        check_address(address)
    kwargs = {"log_to_driver": not quiet, "include_dashboard": False}
    try:
        if address:
            kwargs.pop("include_dashboard")
            ray.init(address=address, **kwargs)
        else:
            # "local" forces a new instance even when a `ray start` cluster runs on this machine.
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RunError(f"cannot connect to Ray at {address or 'a new local instance'}: {exc}",
                       hint="start a cluster with `ray start --head` and pass the address it prints, or drop --address") from exc
    return True


def check_address(address: str) -> None:
    """Ray retries an unreachable head for minutes; a plain TCP connect answers at once (refused)
    or within ``AUTOML_NAS_RAY_TIMEOUT`` seconds (default 30)."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise RunError(f"Ray address {address!r} is not host:port (or ray://host:port, or auto)",
                       hint="pass the address `ray start --head` printed, e.g. 10.0.0.5:6379")
    timeout = float(os.environ.get("AUTOML_NAS_RAY_TIMEOUT", "30"))
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RunError(f"cannot reach the Ray head at {host}:{port} (tried a TCP connection for up to {timeout:g} s: "
                       f"{exc.strerror or exc})",
                       hint="check that `ray start --head` runs there and the port is open, or drop --address "
                            "to run on this machine") from None


def _trainable(config: dict) -> None:
    # Runs on a Ray worker; it rebuilds the spec and its own plugin manager.
    from ray import tune

    spec = TrialSpec(**config["spec"])
    result = run_trial(spec)
    tune.report({"result_json": json.dumps(result, default=str), "status": result.get("status", "finished")})


def run_on_ray(specs: Iterable[TrialSpec], *, cpus: float = 1.0, gpus: float = 0.0, retries: int = 0,
               storage: str | Path, address: str | None = None, quiet: bool = True,
               on_result: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """Run the specs as parallel Tune trials; failed trials are recorded, never raised."""
    import attrs

    # With -q Tune's console output engine prints less (read when ray.tune is first imported).
    if quiet:
        os.environ.setdefault("AIR_VERBOSITY", "0")
    from ray import tune

    specs = list(specs)
    started = connect(address, quiet=quiet)
    try:
        trainable = tune.with_resources(_trainable, {"cpu": cpus, "gpu": gpus})
        tuner = tune.Tuner(
            trainable,
            param_space={"spec": tune.grid_search([attrs.asdict(s) for s in specs])},
            tune_config=tune.TuneConfig(num_samples=1, reuse_actors=False),
            run_config=tune.RunConfig(name="tune", storage_path=str(Path(storage).resolve()), verbose=0 if quiet else 1,
                                      failure_config=tune.FailureConfig(max_failures=retries)),
        )
        # stdout carries only the command's JSON summary; Tune's banner and tables go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            grid = tuner.fit()
        results = [_collect(grid[i], specs) for i in range(len(grid))]
    finally:
        if started:
            import ray

            ray.shutdown()
    order = {s.run_dir: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order[r.spec.run_dir])
    if on_result is not None:
        for r in results:
            on_result(r)
    return results


def _collect(result, specs: list[TrialSpec]) -> TrialResult:
    spec = TrialSpec(**result.config["spec"])
    attempts = read_attempts(spec)
    if result.error is None and "result_json" in (result.metrics or {}):
        payload = json.loads(result.metrics["result_json"])
        return TrialResult(spec=spec, status=payload.get("status", "finished"), result=payload, attempts=max(len(attempts), 1))
    from automl_nas.execution.local import failed_result

    return failed_result(spec, fallback_error=_short(result.error))


def _short(error: BaseException | None) -> str:
    if error is None:
        return "the trial reported no result"
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
