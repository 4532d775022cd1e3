"""Where a search step's time goes: torch.profiler self time per kind of op (issue 15's floor).

``step_time.py --breakdown`` profiles the timed iterations and prints, per configuration, the
time per step in convolutions, batch norm, matrix products, copies/concatenations and the
remaining elementwise ops, the framework time no op accounts for (Python, dispatch, autograd
bookkeeping), the number of ops (on a GPU: kernel launches) per step, and the convolutions'
achieved FLOP/s. Those are the numbers the issue asks for where a target is out of reach:
a compute-bound step shows convolutions near the device's peak, a memory- or launch-bound one
shows the other rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Leaf ATen ops by kind (self time, so nested calls are not counted twice).
KINDS: dict[str, tuple[str, ...]] = {
    "conv": ("conv",),
    "batch_norm": ("batch_norm",),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::dot", "aten::matmul", "aten::baddbmm"),
    "copy": ("aten::cat", "aten::stack", "aten::copy_", "aten::clone", "aten::contiguous", "aten::index_select"),
}


@dataclass(frozen=True)
class Breakdown:
    """Per step: milliseconds by kind, op (or kernel) count, and the convolutions' GFLOP/s."""

    steps: int
    ms_by_kind: dict[str, float]
    # Wall time minus the ops' time. CPU: Python, dispatch, autograd bookkeeping. GPU: the device
    # idles (waiting for launches from the host: a launch-bound step).
    ms_unaccounted: float
    ops_per_step: float
    kernels_per_step: float | None  # GPU kernel launches (None on a CPU)
    conv_gflops: float | None  # convolutions' FLOPs (forward and backward, FlopCounterMode) over their time
    reference_gflops: float | None = None  # a large fp32 3x3 convolution on the same device and threads
    top: list[tuple[str, float, float]] = field(default_factory=list)  # (op, ms per step, calls per step)

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{k} {v:.0f}" for k, v in self.ms_by_kind.items())
        rest = "device idle" if self.kernels_per_step is not None else "framework (no op)"
        out = [f"ms per step by kind: {kinds}, {rest} {self.ms_unaccounted:.0f}",
               f"ops per step: {self.ops_per_step:.0f}"
               + (f", GPU kernels per step: {self.kernels_per_step:.0f}" if self.kernels_per_step is not None else "")
               + (f"; convolutions: {self.conv_gflops:.0f} GFLOP/s achieved" if self.conv_gflops else "")
               + (f" (a large 3x3 conv here: {self.reference_gflops:.0f})" if self.reference_gflops else "")]
        out += [f"  {name:<34} {ms:7.1f} ms {calls:6.0f} calls" for name, ms, calls in self.top]
        return out


def kind_of(name: str) -> str:
    for kind, keys in KINDS.items():
        if any(key in name for key in keys):
            return kind
    return "elementwise"


def _device_self_us(e) -> float:
    return float(getattr(e, "self_device_time_total", 0.0) or getattr(e, "self_cuda_time_total", 0.0) or 0.0)


def summarise(prof, steps: int, wall_ms: float, *, cuda: bool, conv_flops: float = 0.0) -> Breakdown:
    """Reduce a finished ``torch.profiler.profile`` over ``steps`` iterations that took ``wall_ms``;
    ``conv_flops`` is one step's convolution FLOPs."""
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    # On a GPU the step's time is the kernels' time; on a CPU the ops' own (self) time.
    self_us = _device_self_us if cuda else (lambda e: float(e.self_cpu_time_total))
    by_kind: dict[str, float] = {kind: 0.0 for kind in (*KINDS, "elementwise")}
    for e in events:
        by_kind[kind_of(e.key)] += self_us(e) / 1e3 / steps
    accounted = sum(by_kind.values())
    kernels = None
    if cuda:
        kernels = sum(e.count for e in prof.key_averages() if str(getattr(e, "device_type", "")).endswith("CUDA")) / steps
    top = sorted(events, key=lambda e: -self_us(e))[:8]
    return Breakdown(
        steps=steps,
        ms_by_kind=by_kind,
        ms_unaccounted=max(0.0, wall_ms / steps - accounted),
        ops_per_step=sum(e.count for e in events) / steps,
        kernels_per_step=kernels,
        conv_gflops=conv_flops / (by_kind["conv"] * 1e6) if conv_flops and by_kind["conv"] else None,
        top=[(e.key, self_us(e) / 1e3 / steps, e.count / steps) for e in top],
    )


def reference_conv_gflops(device: str, repeats: int = 5) -> float:
    """Achieved fp32 GFLOP/s of a large 3x3 convolution (64 x 256 x 16 x 16, 256 filters, channels-last):
    the best this device and thread count do with the same kernels (on a GPU cuDNN may use TF32, torch's
    default for convolutions, as the supernet's convolutions do; an H100/H200 SXM's datasheet peaks are
    about 67 TFLOP/s fp32 and 495 TFLOP/s dense TF32). (Not a matrix product: MKL's
    sgemm on AMD CPUs runs at half oneDNN's convolution rate, 205 vs 499 GFLOP/s on the dev machine.)"""
    import time

    import torch
    from torch.nn import functional as F

    x = torch.randn(64, 256, 16, 16, device=device).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3, device=device).contiguous(memory_format=torch.channels_last)
    flops = 2 * 64 * 16 * 16 * 256 * 256 * 9
    if device.startswith("cuda"):
        # ~0.1 ms per call on an H100/H200: five calls timed with the host clock measured the launch
        # and the synchronisation; 200 calls between CUDA events measure the kernels
        for _ in range(3):
            F.conv2d(x, w, padding=1)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(200):
            F.conv2d(x, w, padding=1)
        end.record()
        end.synchronize()
        return flops * 200 / (start.elapsed_time(end) / 1e3) / 1e9
    F.conv2d(x, w, padding=1)
    started = time.perf_counter()
    for _ in range(repeats):
        F.conv2d(x, w, padding=1)
    return flops * repeats / (time.perf_counter() - started) / 1e9


def conv_flops_per_step(step, steps: int = 1) -> float:
    """Convolution FLOPs per step, forward and backward (torch.utils.flop_counter), averaged over
    ``steps`` steps (a GDAS step's work depends on its sample)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        for i in range(steps):
            step(i)
    return float(sum(n for op, n in counter.get_flop_counts().get("Global", {}).items() if "conv" in str(op))) / steps


def profile_steps(step, steps: int, *, cuda: bool, device: str | None = None) -> Breakdown:
    """Run ``step(i)`` ``steps`` times under the profiler and summarise (shapes and FLOPs are not
    recorded: on the official code's ~48,000 ops per step that costs many GB)."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    flops = conv_flops_per_step(step, steps)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        for i in range(steps):
            step(i)
        if cuda:
            torch.cuda.synchronize()
        wall_ms = 1e3 * (time.perf_counter() - started)
    got = summarise(prof, steps, wall_ms, cuda=cuda, conv_flops=flops)
    return replace(got, reference_gflops=reference_conv_gflops(device)) if device else got
