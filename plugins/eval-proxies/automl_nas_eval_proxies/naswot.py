"""NASWOT: score an untrained network by how differently its ReLUs code the images of a batch.

Paper: Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without
Training", ICML 2021, arXiv:2006.04647. Official code followed:
github BayesWatch/nas-without-training (``score_networks.py``: a forward hook on
every ``ReLU`` binarises its *input* (``x > 0``) per image and accumulates
``K += c c^T + (1 - c)(1 - c)^T``, i.e. ``N_A - d_H`` with N_A the number of
units and d_H the Hamming distance between two images' codes; the score is
``np.linalg.slogdet(K)[1]``).

As in the official script the network stays in training mode (BatchNorm uses
batch statistics) and is scored on one mini-batch of training images, 128 by
default (the script's ``--batch_size``).

Deviations: the official hooks count a ReLU only after a first backward pass
reached it (``visited_backwards``); here every ``nn.ReLU`` that runs in the
forward pass is counted, which differs only for ReLUs whose output never reaches
the logits, and saves that extra pass. ``K`` is accumulated in float64 (the
official code uses float32 tensors, then float64 numpy). A singular ``K`` (two
images with identical codes) gives ``-inf``, as ``slogdet`` does.
"""

from __future__ import annotations

import torch
from torch import nn

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas_eval_proxies._common import ImageProxy, build_network, logits_of, sample_batch
from automl_nas_eval_proxies.config import BatchProxyConfig, NaswotConfig

__all__ = ["Naswot", "hamming_kernel_score"]


def hamming_kernel_score(net: nn.Module, x: torch.Tensor) -> float:
    """``logdet`` of the accumulated ReLU-code kernel of ``net`` on batch ``x``."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        codes = (inputs[0].detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T).add_((1.0 - codes) @ (1.0 - codes).T)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net.train()
        with torch.no_grad():
            logits_of(net(x))
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel).logabsdet)


class Naswot(ImageProxy, Evaluator):
    """``{"naswot": score}``; higher is better."""

    name = "naswot"
    metrics = ("naswot",)

    def __init__(self, config: NaswotConfig | BatchProxyConfig | None = None) -> None:
        self.config = config or NaswotConfig()

    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        seed = ctx.seed if self.config.seed is None else self.config.seed
        net = build_network(genotype, ctx, seed)
        x, _ = sample_batch(ctx.data, self.config.batch_size, seed, ctx.device, ctx.log)
        return {"naswot": hamming_kernel_score(net, x)}
