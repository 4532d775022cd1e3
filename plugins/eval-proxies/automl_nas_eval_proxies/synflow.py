"""SynFlow: data-free saliency of an untrained network.

Paper: Tanaka, Kunin, Yamins, Ganguli, "Pruning neural networks without any data
by iteratively conserving synaptic flow", NeurIPS 2020, arXiv:2006.05467; as a
NAS proxy: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR
2021, arXiv:2101.08134. Official code followed: github
SamsungLabs/zero-cost-nas (``foresight/pruners/measures/synflow.py``): the
network is copied *without BatchNorm* (``bn=False``), every parameter is
replaced by its absolute value, the network runs in float64 on one all-ones
input, ``R = sum(output)`` is back-propagated and the score is
``sum |theta * dR/dtheta|`` over the weights of all conv and linear layers.

Deviation: BatchNorm layers are removed by replacing them with ``nn.Identity``
in a deep copy of whatever network the space builds; the reference builds its
NAS-Bench-201 model again with ``bn=False``, which is not the same network: its
residual reduction blocks keep their BatchNorms (in training mode) and its cell
convolutions get a bias (``bias=not affine``). A host that knows no space
cannot rebuild a network without BatchNorm, so scores differ in value from the
reference's on NB201 (the ranking was not measured against it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas_eval_proxies._common import ImageProxy, build_network, input_spec, logits_of, weight_layers
from automl_nas_eval_proxies.config import SynflowConfig

__all__ = ["Synflow", "synflow_score"]

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _without_batchnorm(net: nn.Module) -> nn.Module:
    net = copy.deepcopy(net)
    for module in list(net.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, _BN):
                setattr(module, child_name, nn.Identity())
    return net


def synflow_score(net: nn.Module, shape: tuple[int, int, int]) -> float:
    """SynFlow of ``net`` for inputs of ``(C, H, W)`` = ``shape`` (float64, BN removed)."""
    net = _without_batchnorm(net).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    device = next(net.parameters()).device
    ones = torch.ones((1, *shape), dtype=torch.float64, device=device)
    logits_of(net(ones)).sum().backward()
    total = torch.zeros((), dtype=torch.float64)
    for layer in weight_layers(net):
        if layer.weight.grad is not None:
            total += (layer.weight.detach() * layer.weight.grad).abs().sum().cpu()
    return float(total)


class Synflow(ImageProxy, Evaluator):
    """``{"synflow": score}``; higher is better. Uses the data set only for the input shape."""

    name = "synflow"
    metrics = ("synflow",)

    def __init__(self, config: SynflowConfig | None = None) -> None:
        self.config = config or SynflowConfig()

    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        seed = ctx.seed if self.config.seed is None else self.config.seed
        spec = input_spec(ctx.data)
        net = build_network(genotype, ctx, seed)
        return {"synflow": synflow_score(net, (spec.channels, spec.height, spec.width))}
