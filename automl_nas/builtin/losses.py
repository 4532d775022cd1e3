"""Implementations of the built-in objectives (imports torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from automl_nas.api.objective import LossContext, Objective


class CrossEntropy(Objective):
    name = "cross_entropy"

    def __init__(self, config) -> None:
        self.config = config

    def __call__(self, ctx: LossContext) -> torch.Tensor:
        loss = F.cross_entropy(ctx.logits, ctx.targets, label_smoothing=self.config.label_smoothing)
        if ctx.aux_logits is not None and self.config.aux_weight:
            loss = loss + self.config.aux_weight * F.cross_entropy(ctx.aux_logits, ctx.targets)
        return loss
