"""The epoch stream on Ray: an actor on the driver's node between workers and the driver.

Workers ``put`` each :class:`~automl_nas.execution.epochs.EpochEvent`; the driver ``take``\\ s
them between waits for finished trials and ``answer``\\ s those that wait for a go-on/stop
decision (a study's pruner). The actor is asynchronous so that many workers can wait for
their answers at once while the driver keeps draining.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from automl_nas.execution.epochs import EpochEvent

__all__ = ["EpochChannel", "relay_send", "start_channel"]


class EpochChannel:
    """Holds events until the driver takes them, and answers until the driver gives them."""

    def __init__(self) -> None:
        self.events: list[EpochEvent] = []
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}

    async def put(self, event: EpochEvent) -> bool:
        """Queue ``event``; when it wants an answer, wait for the driver's (``True``: stop)."""
        self.events.append(event)
        if not event.wants_answer:
            return False
        future = asyncio.get_running_loop().create_future()
        self.waiting[(event.trial, event.epoch)] = future
        return await future

    async def take(self) -> list[EpochEvent]:
        events, self.events = self.events, []
        return events

    async def answer(self, trial: str, epoch: int, stop: bool) -> None:
        future = self.waiting.pop((trial, epoch), None)
        if future is not None and not future.done():
            future.set_result(bool(stop))


def start_channel() -> tuple[Any, str]:
    """An :class:`EpochChannel` actor on this driver's node; returns ``(handle, name)``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from automl_nas.execution.sync import NAMESPACE

    name = f"epochs-{uuid.uuid4().hex[:12]}"
    node = ray.get_runtime_context().get_node_id()
    handle = ray.remote(EpochChannel).options(
        name=name, namespace=NAMESPACE, num_cpus=0, lifetime="non_detached", max_concurrency=1000,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)).remote()
    return handle, name


def relay_send(channel_name: str):
    """Worker side: the ``send`` of an :class:`~automl_nas.execution.epochs.EpochRelay` that
    goes through the named channel; it returns the driver's answer for an event that asks for
    one, ``False`` otherwise."""
    import ray

    from automl_nas.execution.sync import NAMESPACE

    channel = ray.get_actor(channel_name, namespace=NAMESPACE)

    def send(event: EpochEvent) -> bool:
        # Waited for even without an answer (a round trip per epoch): the driver then sees a
        # trial's every epoch before its end.
        return bool(ray.get(channel.put.remote(event)))

    return send
