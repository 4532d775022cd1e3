"""Measure every candidate op of a search space at its position and build a latency table.

``automl profile-ops`` is the command-line face of :func:`profile_space`. The space lists
its ops through ``SearchSpace.op_modules``; ops built alike that see the same input shape
are timed once and the median is reused at each of their positions. The table format is
documented in :mod:`automl_nas.costs`.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import time
from typing import Any, Callable, Iterable

import attrs
import torch
from torch import nn

from automl_nas.api.space import InputSpec, OpPosition, SearchSpace
from automl_nas.costs import GroupLatency, LatencyTable, plain_data, space_options
from automl_nas.errors import PluginError

__all__ = ["TimingSettings", "device_name", "profile_space", "time_module"]


@attrs.frozen(kw_only=True)
class TimingSettings:
    """How each op is timed: ``repeats`` timed calls after ``warmup`` untimed ones."""

    device: str = "cpu"
    batch: int = 64
    repeats: int = 20
    warmup: int = 5
    backward: bool = False


def time_module(module: nn.Module, input_shape: tuple[int, ...], settings: TimingSettings) -> float:
    """Median milliseconds of one call of ``module`` on a batch (forward, plus backward if asked).

    The module runs in training mode, as in the search supernet. On CUDA each call is timed
    with CUDA events and a synchronisation, so queued kernels are not missed.
    """
    module = module.to(settings.device).train()
    gen = torch.Generator(device=settings.device).manual_seed(0)
    x = torch.randn(settings.batch, *input_shape, device=settings.device, generator=gen,
                    requires_grad=settings.backward)
    call = _call(module, x, settings.backward)
    for _ in range(settings.warmup):
        call()
    cuda = torch.device(settings.device).type == "cuda"
    times = [_time_cuda(call) if cuda else _time_cpu(call) for _ in range(settings.repeats)]
    return statistics.median(times)


def _call(module: nn.Module, x: torch.Tensor, backward: bool) -> Callable[[], None]:
    if not backward:
        def forward() -> None:
            with torch.no_grad():
                module(x)
        return forward
    out = module(x)
    grad = torch.ones_like(out)

    def forward_backward() -> None:
        y = module(x)
        if y.requires_grad:  # `none` returns fresh zeros: nothing to differentiate
            y.backward(grad)
    return forward_backward


def _time_cpu(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def _time_cuda(call: Callable[[], None]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def device_name(device: str) -> str:
    """The GPU's name, or the CPU model (``/proc/cpuinfo``), for the table's record."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _positions(space: SearchSpace, inputs: InputSpec) -> list[OpPosition]:
    """The space's op positions, checked to cover every (group, cell, edge, op) exactly once."""
    try:
        positions = list(space.op_modules(inputs))
    except NotImplementedError:
        raise PluginError(f"search space {space.name!r} cannot be profiled: it does not implement "
                          f"SearchSpace.op_modules(inputs), which lists its candidate ops at their positions",
                          hint="implement op_modules() in the space's plugin (see automl_nas/api/space.py and the "
                               "nb201/darts spaces)") from None
    expected = {(g.name, c, e, op) for g in space.groups() for c in range(g.cells) for e in range(len(g.edges)) for op in g.ops}
    seen = [(p.group, p.cell, p.edge, p.op) for p in positions]
    if len(seen) != len(set(seen)) or set(seen) != expected:
        missing, extra = sorted(expected - set(seen))[:3], sorted(set(seen) - expected)[:3]
        raise PluginError(f"search space {space.name!r}: op_modules() must yield each (group, cell, edge, op) of groups() "
                          f"exactly once; {len(seen)} records for {len(expected)} positions (missing e.g. {missing}, "
                          f"unexpected e.g. {extra})", hint="fix op_modules() in the space's plugin")
    return positions


def _signature(position: OpPosition) -> tuple:
    """Positions with equal signatures run the same computation: time them once."""
    module = position.module
    plain = tuple(sorted((k, v) for k, v in vars(module).items() if isinstance(v, (bool, int, float, str, tuple))))
    return (type(module).__qualname__, repr(module), plain, tuple(position.input_shape))


def profile_space(space: SearchSpace, inputs: InputSpec, settings: TimingSettings, *, path: str = "",
                  progress: Callable[[int, int, OpPosition, float], None] | None = None) -> LatencyTable:
    """Time every op of ``space`` for images of ``inputs`` and return the latency table."""
    positions = _positions(space, inputs)
    unique: dict[tuple, OpPosition] = {}
    for p in positions:
        unique.setdefault(_signature(p), p)
    timed: dict[tuple, float] = {}
    for i, (sig, p) in enumerate(unique.items()):
        timed[sig] = time_module(p.module, tuple(p.input_shape), settings)
        if progress is not None:
            progress(i + 1, len(unique), p, timed[sig])
    groups = _fill(space, positions, timed)
    return LatencyTable(
        path=path, space=space.name, fingerprint=plain_data(space.fingerprint()), options=space_options(space),
        inputs={"channels": inputs.channels, "height": inputs.height, "width": inputs.width},
        groups=groups, measured=_measured(settings, unique_ops=len(unique)), summary=summarise(groups),
    )


def _fill(space: SearchSpace, positions: Iterable[OpPosition], timed: dict[tuple, float]) -> dict[str, GroupLatency]:
    specs = {g.name: g for g in space.groups()}
    grid = {g.name: [[[0.0] * len(g.ops) for _ in g.edges] for _ in range(g.cells)] for g in specs.values()}
    for p in positions:
        grid[p.group][p.cell][p.edge][specs[p.group].ops.index(p.op)] = round(timed[_signature(p)], 6)
    return {name: GroupLatency(ops=tuple(g.ops), edges=tuple(g.edges), cells=g.cells,
                               latency_ms=tuple(tuple(tuple(r) for r in c) for c in grid[name]))
            for name, g in specs.items()}


def summarise(groups: dict[str, GroupLatency]) -> dict[str, dict[str, dict[str, float]]]:
    """Per group and op: mean, min and max latency over the op's positions (ms)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, g in groups.items():
        out[name] = {}
        for k, op in enumerate(g.ops):
            values = [row[k] for cell in g.latency_ms for row in cell]
            out[name][op] = {"mean_ms": round(statistics.fmean(values), 6), "min_ms": min(values), "max_ms": max(values)}
    return out


def _measured(settings: TimingSettings, *, unique_ops: int) -> dict[str, Any]:
    return {"device": settings.device, "device_name": device_name(settings.device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "batch": settings.batch, "repeats": settings.repeats,
            "warmup": settings.warmup, "backward": settings.backward, "unique_ops": unique_ops,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
