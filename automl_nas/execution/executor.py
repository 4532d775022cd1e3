"""One executor for trials chosen one at a time: study trials and seed trials, in this process
or as Ray tasks on this machine or a cluster (issue 14).

Every executor has the same lifecycle, retry policy, result record and epoch stream:

- ``with executor:`` opens it (Ray: joins or starts Ray, starts the epoch channel and, on a
  cluster, the record sink on the driver's node) and closes it at the end;
- ``submit(spec)`` while :meth:`~TrialExecutor.free`; ``wait()`` blocks until one trial ends
  and returns its :class:`~automl_nas.records.trial.TrialResult`; meanwhile every epoch of
  every running trial reaches ``on_epoch(event) -> stop?`` in the driver's thread;
- a failing attempt is retried ``retries`` times, each retry resuming from the trial's own
  checkpoint (:func:`~automl_nas.execution.trial.run_trial`); a trial the driver stopped
  (``on_epoch`` returned ``True`` for an event that asked) ends ``pruned`` and is not retried.

Ray Tune runs fixed seed batches on Ray (:mod:`automl_nas.execution.ray`: Tune's per-trial
records, resources and failure handling serve them); an ask/tell driver such as an Optuna
study needs to choose each trial when a slot frees, which plain tasks give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import attrs

from automl_nas.errors import Interrupted
from automl_nas.execution.cluster import RaySession, Shipping, ray_task_options
from automl_nas.execution.epochs import EpochEvent, EpochRelay, Send, TrialStopped
from automl_nas.execution.trial import (TrialResult, TrialSpec, failed_result, read_attempts, read_trial_result,
                                        run_trial)

__all__ = ["LocalExecutor", "RayTaskExecutor", "TrialExecutor", "attempt_trial", "run_all"]

OnEpoch = Callable[[EpochEvent], bool]


def _ignore(_event: EpochEvent) -> bool:
    return False


class TrialExecutor(Protocol):
    """Runs trials; see the module's docstring for when each method is called."""

    running: int

    def __enter__(self) -> "TrialExecutor": ...

    def __exit__(self, *exc: Any) -> None: ...

    def free(self) -> bool:
        """Whether another trial may be submitted now."""

    def submit(self, spec: TrialSpec, *, answer: bool = False) -> None:
        """Start ``spec``; with ``answer`` its worker waits for ``on_epoch``'s verdict after each epoch."""

    def wait(self) -> TrialResult:
        """Block until a submitted trial ends; its result (failed and pruned trials included)."""


def run_all(specs: Iterable[TrialSpec], executor: TrialExecutor,
            on_result: Callable[[TrialResult], None] | None = None) -> list[TrialResult]:
    """A fixed batch through ``executor``, results in the order of ``specs``."""
    specs, results = list(specs), []
    with executor:
        queue = list(specs)
        while queue or executor.running:
            while queue and executor.free():
                executor.submit(queue.pop(0))
            outcome = executor.wait()
            results.append(outcome)
            if on_result is not None:
                on_result(outcome)
    order = {s.run_dir: i for i, s in enumerate(specs)}
    return sorted(results, key=lambda r: order[r.spec.run_dir])


def trial_label(spec: TrialSpec) -> str:
    return spec.name or Path(spec.run_dir).name


def attempt_trial(spec: TrialSpec, send: Send, *, answer: bool = False, placement: Any = None) -> dict:
    """One attempt of ``spec`` in this process with its epochs relayed through ``send``.

    Returns ``result.json``'s content (status ``pruned`` when the driver stopped it); raises what
    a failing run raises, so the executor can retry."""
    relay = EpochRelay(trial_label(spec), send, wants_answer=answer)
    try:
        return run_trial(spec, extra_plugins=[(relay, "epoch-relay")], placement=placement)
    except TrialStopped as exc:
        return {**(read_trial_result(spec.run_dir) or {}), "status": "pruned", "error": exc.message}


def _outcome(spec: TrialSpec, result: dict) -> TrialResult:
    status = result.get("status", "finished")
    return TrialResult(spec=spec, status=status, result=result, error=result.get("error") if status != "finished" else None,
                       attempts=max(len(read_attempts(spec)), 1))


@attrs.define
class LocalExecutor:
    """Trials one after another in this process; epochs reach ``on_epoch`` directly."""

    retries: int = 0
    on_epoch: OnEpoch = _ignore
    running: int = 0
    _queued: list[tuple[TrialSpec, bool]] = attrs.field(factory=list)

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._queued.clear()

    def free(self) -> bool:
        return self.running == 0

    def submit(self, spec: TrialSpec, *, answer: bool = False) -> None:
        self._queued.append((spec, answer))
        self.running += 1

    def wait(self) -> TrialResult:
        spec, answer = self._queued.pop(0)
        try:
            for _ in range(self.retries + 1):
                try:
                    return _outcome(spec, attempt_trial(spec, self.on_epoch, answer=answer))
                except Interrupted:
                    raise  # Ctrl-C stops the whole batch, as in a single run
                except Exception:  # noqa: BLE001 - in the attempt log; the next attempt resumes
                    continue
            return failed_result(spec)
        finally:
            self.running -= 1


def _ray_attempt(spec: TrialSpec, shipping: Shipping, answer: bool) -> dict:
    # Runs in a Ray worker (any node): it rebuilds its own plugin manager from entry points.
    from automl_nas.execution.channel import relay_send
    from automl_nas.execution.placement import ray_placement

    send = relay_send(shipping.channel) if shipping.channel else _ignore
    placement = ray_placement()
    if shipping.sink:
        from automl_nas.execution.sync import run_shipped

        return run_shipped(spec, shipping.sink, shipping.recipe_text,
                           lambda local: attempt_trial(local, send, answer=answer, placement=placement))
    return attempt_trial(spec, send, answer=answer, placement=placement)


@attrs.define
class RayTaskExecutor:
    """Up to ``parallel`` trials at once as Ray tasks with ``cpus``/``gpus`` each.

    ``address`` (or ``RAY_ADDRESS``) joins a cluster: nothing is assumed shared with its nodes
    (the working directory travels as the job's ``runtime_env``, each trial runs in a scratch
    directory and its records come back to ``batch_dir`` through a sink on the driver's node);
    without one, a private Ray starts on this machine and trials write in place."""

    batch_dir: Path
    parallel: int = 1
    cpus: float = 1.0
    gpus: float = 0.0
    retries: int = 0
    address: str | None = None
    quiet: bool = True
    on_epoch: OnEpoch = _ignore
    pending: dict[Any, TrialSpec] = attrs.field(factory=dict)
    _session: RaySession | None = None
    _remote: Any = None

    @property
    def running(self) -> int:
        return len(self.pending)

    def __enter__(self) -> "RayTaskExecutor":
        self._session = RaySession(batch_dir=self.batch_dir, address=self.address, quiet=self.quiet, cpus=self.cpus,
                                   gpus=self.gpus).__enter__()
        import ray

        self._remote = ray.remote(_ray_attempt).options(**ray_task_options(self.cpus, self.gpus, self.retries))
        return self

    def __exit__(self, *exc: Any) -> None:
        import ray

        for ref in self.pending:
            ray.cancel(ref, force=True)
        self.pending.clear()
        if self._session is not None:
            self._session.__exit__()
            self._session = None

    def free(self) -> bool:
        return len(self.pending) < self.parallel

    def submit(self, spec: TrialSpec, *, answer: bool = False) -> None:
        shipping = self._session.shipping
        if shipping.sink:  # no chdir into the driver's directory; the recipe's text travels
            shipping = attrs.evolve(shipping, recipe_text=Path(spec.recipe_path).read_text(encoding="utf-8"))
            spec_sent = attrs.evolve(spec, workdir="")
        else:
            spec_sent = spec
        self.pending[self._remote.remote(spec_sent, shipping, answer)] = spec

    def wait(self) -> TrialResult:
        import ray

        while True:
            ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=0.25)
            self._pump()
            if ready:
                break
        spec = self.pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # noqa: BLE001 - RayTaskError after the last retry, a lost node
            from automl_nas.execution.cluster import short_error

            return failed_result(spec, fallback_error=short_error(exc))
        return _outcome(spec, {**result, "run_dir": spec.run_dir})

    def _pump(self) -> None:
        import ray

        channel = self._session.channel
        for event in ray.get(channel.take.remote()):
            stop = self.on_epoch(event)
            if event.wants_answer:
                channel.answer.remote(event.trial, event.epoch, bool(stop))
