"""SNIP: connection sensitivity of an untrained network on one mini-batch.

Paper: Lee, Ajanthan, Torr, "SNIP: Single-shot Network Pruning based on
Connection Sensitivity", ICLR 2019, arXiv:1810.02340; as a NAS proxy:
Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021. Official
code followed: github SamsungLabs/zero-cost-nas
(``foresight/pruners/measures/snip.py``): the gradient of the cross-entropy of
one batch w.r.t. a unit mask on every conv/linear weight equals
``w * dL/dw``; the score is ``sum |w * dL/dw|`` over those layers. Training mode
(batch-statistics BN), like the reference.

Deviation: the reference may split the batch into chunks and accumulate
gradients (``split_data``); one chunk is used here (same value for one chunk).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas_eval_proxies._common import ImageProxy, build_network, logits_of, sample_batch, weight_layers
from automl_nas_eval_proxies.config import BatchProxyConfig

__all__ = ["Snip", "snip_score"]


def snip_score(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(logits_of(net(x)), y).backward()
    total = torch.zeros((), dtype=torch.float64)
    for layer in weight_layers(net):
        if layer.weight.grad is not None:
            total += (layer.weight.detach() * layer.weight.grad).abs().sum().double().cpu()
    return float(total)


class Snip(ImageProxy, Evaluator):
    """``{"snip": score}``; higher is better."""

    name = "snip"
    metrics = ("snip",)

    def __init__(self, config: BatchProxyConfig | None = None) -> None:
        self.config = config or BatchProxyConfig()

    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        seed = ctx.seed if self.config.seed is None else self.config.seed
        net = build_network(genotype, ctx, seed)
        x, y = sample_batch(ctx.data, self.config.batch_size, seed, ctx.device, ctx.log)
        return {"snip": snip_score(net, x, y)}
