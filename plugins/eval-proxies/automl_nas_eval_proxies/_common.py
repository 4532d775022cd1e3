"""What every proxy needs: a seeded untrained network of the genotype and a normalised batch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from automl_nas.api import EvalContext, Genotype, InputSpec
from automl_nas.errors import DataError

__all__ = ["ImageProxy", "build_network", "check_images", "input_spec", "sample_batch", "weight_layers"]


def check_images(data: Any) -> None:
    """The proxies score image networks on a batch of the run's images."""
    from automl_nas.api import GraphSet

    if data is None:
        raise DataError("zero-cost proxies need the run's data set, and none was given",
                        hint='give the recipe a data set, e.g. `[data] name = "digits"`, or `automl eval ... --data digits`')
    if isinstance(data, GraphSet):
        raise DataError(f"zero-cost proxies score image networks, and the data set {data.name!r} is a graph",
                        hint='evaluate a graph space with "gnn-train" or "nas-bench-graph"')


class ImageProxy:
    """Mixed into each proxy evaluator: its :meth:`~automl_nas.api.Evaluator.check`."""

    def check(self, space: Any, data: Any) -> None:
        check_images(data)


def input_spec(data: Any) -> InputSpec:
    check_images(data)
    c, h, w = data.shape
    return InputSpec(channels=int(c), height=int(h), width=int(w), num_classes=int(data.num_classes))


def build_network(genotype: Genotype, ctx: EvalContext, seed: int) -> nn.Module:
    """``ctx.space.build_network`` under ``manual_seed(seed)`` without touching the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ctx.space.build_network(genotype, input_spec(ctx.data))
    return net.to(ctx.device)


def sample_batch(data: Any, batch_size: int, seed: int, device: str = "cpu",
                 log: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` training images drawn without replacement (seeded), normalised with the set's
    mean/std; fewer when the set has fewer, which ``log`` (an evaluation's) is told: the score
    depends on the batch size, and it was clamped silently."""
    n = len(data.train_y)
    if n == 0:
        raise DataError(f"data set {data.name!r} has no training images to score with", hint="use another data set")
    if batch_size > n and log is not None:
        log(f"note: batch_size {batch_size} is more than the {n} training images of {data.name}: scored on {n}")
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=generator)[: min(batch_size, n)]
    x = data.train_x[idx].to(torch.float32).div_(255.0)
    mean = torch.tensor(data.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - mean) / std).to(device), data.train_y[idx].to(device)


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """Conv and linear layers: the layers the reference proxy code scores."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def logits_of(output: Any) -> torch.Tensor:
    """Networks with an auxiliary head return ``(logits, aux)`` in training mode."""
    return output[0] if isinstance(output, (tuple, list)) else output
