"""Cutout on a normalised batch, vectorised and seeded per batch.

DeVries & Taylor, "Improved Regularization of Convolutional Neural Networks with Cutout",
arXiv:1708.04552; code followed: DARTS ``utils.py`` ``Cutout`` (SNAS-Series
``Analysis/darts/cnn/utils.py``): a square of side ``length`` centred on a uniformly drawn pixel,
clipped at the border, is set to 0 *after* normalisation, on every training image.
Drawing from a generator seeded by ``(seed, epoch, batch)`` makes a resumed retraining
see the same holes as an uninterrupted one.
"""

from __future__ import annotations

import torch

__all__ = ["cutout"]


def cutout(x: torch.Tensor, length: int, gen: torch.Generator) -> torch.Tensor:
    """``x`` (B, C, H, W) with one ``length`` x ``length`` square per image zeroed."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1), generator=gen)
    cx = torch.randint(0, w, (b, 1), generator=gen)
    # DARTS: y1 = clip(y - length // 2, 0, h), y2 = clip(y + length // 2, 0, h), rows y1 <= r < y2.
    rows = torch.arange(h).view(1, h)
    cols = torch.arange(w).view(1, w)
    in_rows = (rows >= cy - length // 2) & (rows < cy + length // 2)
    in_cols = (cols >= cx - length // 2) & (cols < cx + length // 2)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # (B, H, W)
    return x * (~hole).to(device=x.device, dtype=x.dtype)[:, None]
