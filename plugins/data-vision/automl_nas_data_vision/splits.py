"""Seeded splits and per-channel statistics shared by the providers."""

from __future__ import annotations

import torch


def seeded_permutation(n: int, seed: int) -> torch.Tensor:
    """``randperm(n)`` from a private generator, so the global RNG is untouched."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=generator)


def halves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint sorted index sets of sizes ``n // 2`` and ``n - n // 2``."""
    perm = seeded_permutation(n, seed)
    first, second = perm[: n // 2], perm[n // 2:]
    return first.sort().values, second.sort().values


def holdout(n: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(keep_idx, held_out_idx)`` with ``count`` held-out indices, both sorted."""
    perm = seeded_permutation(n, seed)
    return perm[count:].sort().values, perm[:count].sort().values


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 ``(N, C, H, W)`` images in [0, 1] units (float64)."""
    values = x.to(torch.float64).div_(255.0).transpose(0, 1).reshape(x.shape[1], -1)
    mean = values.mean(dim=1)
    std = values.std(dim=1, unbiased=False).clamp_min(1e-8)  # a constant channel must not divide by 0
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
