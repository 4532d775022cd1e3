"""Worker of tests/test_synced_batch_norm.py: one rank of a 2-process gloo launch computes batch
norm of its half of fixed batches under :class:`GlobalBatchStatistics` and saves the output,
its first and second derivatives and the running statistics. The test computes the same on the
whole batches in one process (:func:`derivatives` with plain ``F.batch_norm``).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/synced_bn_worker.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.nn import functional as F

MOMENTUM, EPS = 0.1, 1e-5


def batches() -> dict[str, dict[str, torch.Tensor | None]]:
    """Image-shaped (channels-last, off-centre: mean 2, std 3) and vector-shaped (BatchNorm1d)
    batches of 8 with affine parameters, and an image batch without them."""
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    image = randn(8, 5, 6, 6).mul(3).add(2).contiguous(memory_format=torch.channels_last)
    return {
        "image": dict(x=image, weight=randn(5), bias=randn(5), up=randn(8, 5, 6, 6)),
        "vector": dict(x=randn(8, 7), weight=randn(7), bias=randn(7), up=randn(8, 7)),
        "image-plain": dict(x=randn(8, 3, 4, 4), weight=None, bias=None, up=randn(8, 3, 4, 4)),
    }


def derivatives(b: dict[str, torch.Tensor | None], lo: int, hi: int) -> dict[str, torch.Tensor]:
    """Rows ``lo:hi``'s share of: the output; the input and parameter gradients of
    ``sum(y * up) + 0.1 * sum(y^2)`` (a plain backward); second derivatives of
    ``sum(grad_x^2) + sum(grad_weight)`` (a backward through a ``create_graph`` backward); and the
    running statistics after the two forward passes."""
    c = b["x"].shape[1]
    mean, var = torch.zeros(c, dtype=b["x"].dtype), torch.ones(c, dtype=b["x"].dtype)

    def forward():
        x = b["x"][lo:hi].detach().requires_grad_()
        params = [p.detach().clone().requires_grad_() for p in (b["weight"], b["bias"]) if p is not None]
        weight, bias = params if params else (None, None)
        y = F.batch_norm(x, mean, var, weight, bias, True, MOMENTUM, EPS)
        return y, (y * b["up"][lo:hi]).sum() + 0.1 * y.square().sum(), [x, *params]

    y, loss, inputs = forward()
    firsts = torch.autograd.grad(loss, inputs)
    _, loss, inputs = forward()
    again = torch.autograd.grad(loss, inputs, create_graph=True)
    second = torch.autograd.grad(again[0].square().sum() + sum(g.sum() for g in again[1:]), inputs)
    out = {"y": y.detach(), "grad_x": firsts[0], "second_x": second[0], "running_mean": mean, "running_var": var}
    if len(inputs) > 1:
        out.update(grad_weight=firsts[1], grad_bias=firsts[2], second_weight=second[1])
    return out


def main(out: Path) -> None:
    import torch.distributed as dist

    from automl_nas.nn.synced_batch_norm import GlobalBatchStatistics, all_reduce_sum

    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    for name, b in batches().items():
        part = len(b["x"]) // size
        with GlobalBatchStatistics(all_reduce_sum()):
            result = derivatives(b, rank * part, (rank + 1) * part)
        torch.save(result, out / f"{name}-rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
