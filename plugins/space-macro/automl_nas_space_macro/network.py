"""Macro networks, the one-shot supernet over the optional conv slots, and the morphisms' weight transfer.

``MacroNetwork(genotype)``: layer ``k`` is ``layers[k]`` (``ConvBNReLU``, ``Residual`` or a max
pool); after it, every skip ``i>k`` adds ``skips["i_k"](out_i)`` (a 1x1 convolution); then the
head: global average pooling and a linear classifier.

The weight transfer of a morphism (:func:`morph`) is exact in train and in eval mode:

* deepen: the new ``Residual``'s BatchNorm has scale and shift 0, so it adds 0;
* skip: the new 1x1 convolution is 0;
* widen (Net2Wider, Chen et al. 2016): new unit ``o`` copies unit ``m[o]`` (``m[o] = o mod w``) of
  the conv layer, its BatchNorm included; the tensors downstream that carry those channels
  (residual layers, pools, skip targets, up to the next conv layer or the classifier) are
  replicated the same way, and every consumer of them divides its input weights by the replica
  count. A replicated unit sees the same values as its original, so BatchNorm's batch statistics
  are replicated too, which keeps training mode exact.
"""

from __future__ import annotations

import torch
from torch import nn

from automl_nas.api.arch import EdgeWeights
from automl_nas.api.space import Morphism
from automl_nas.nn import MixedOp
from automl_nas_space_macro.genotype import MacroGenotype, widths

__all__ = ["ConvBNReLU", "MacroNetwork", "MacroSupernet", "Residual", "morph"]


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=False))


class Residual(nn.Module):
    """``x + BN(conv3x3(x))``; the identity when the BN's scale and shift are 0."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.conv(x))


def _layer(token: str, c_in: int) -> nn.Module:
    if token == "p":
        return nn.MaxPool2d(2)
    if token == "r":
        return Residual(c_in)
    return ConvBNReLU(c_in, int(token[1:]))


class MacroNetwork(nn.Module):
    def __init__(self, genotype: MacroGenotype, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.genotype = genotype
        outs = widths(genotype)
        ins = [in_channels] + outs[:-1]
        self.layers = nn.ModuleList(_layer(t, c) for t, c in zip(genotype.layers, ins))
        self.skips = nn.ModuleDict({f"{i}_{j}": nn.Conv2d(outs[i], outs[j], 1, bias=False) for i, j in genotype.skips})
        self.into = {j: [i for i, k in genotype.skips if k == j] for j in range(len(genotype.layers))}
        self.classifier = nn.Linear(outs[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for j, layer in enumerate(self.layers):
            x = layer(x)
            for i in self.into[j]:
                x = x + self.skips[f"{i}_{j}"](outs[i])
            outs.append(x)
        return self.classifier(x.mean((2, 3)))


class MacroSupernet(nn.Module):
    """Per stage: a conv layer, then ``slots`` mixed ops (skip or conv at the stage width); pools between."""

    def __init__(self, channels: int, stages: int, slots: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        c_in = in_channels
        for s in range(stages):
            c = channels * 2 ** s
            mixed = nn.ModuleList(MixedOp([nn.Identity(), ConvBNReLU(c, c)]) for _ in range(slots))
            self.stages.append(nn.ModuleDict({"conv": ConvBNReLU(c_in, c), "slots": mixed}))
            c_in = c
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Linear(c_in, num_classes)
        self.slots = slots

    def forward(self, x: torch.Tensor, sample: dict[str, EdgeWeights]) -> torch.Tensor:
        weights = sample["layer"]
        for s, stage in enumerate(self.stages):
            if s:
                x = self.pool(x)
            x = stage["conv"](x)
            for k, op in enumerate(stage["slots"]):
                x = op(x, weights, s * self.slots + k)
        return self.classifier(x.mean((2, 3)))


# ---------------------------------------------------------------- weight transfer


@torch.no_grad()
def morph(parent: MacroNetwork, child: MacroNetwork, m: Morphism) -> MacroNetwork:
    """Fill ``child`` (a fresh network of the edited genotype) from ``parent``; see the module docstring."""
    if m.kind == "deepen":
        (i,) = m.args
        new_index = lambda k: k + 1 if k > i else k  # noqa: E731
        for k, layer in enumerate(parent.layers):
            child.layers[new_index(k)].load_state_dict(layer.state_dict())
        child.layers[i + 1].bn.weight.zero_()
        child.layers[i + 1].bn.bias.zero_()
        for key, conv in parent.skips.items():
            a, b = map(int, key.split("_"))
            child.skips[f"{new_index(a)}_{new_index(b)}"].load_state_dict(conv.state_dict())
        child.classifier.load_state_dict(parent.classifier.state_dict())
    elif m.kind == "skip":
        child.load_state_dict(parent.state_dict(), strict=False)
        child.skips[f"{m.args[0]}_{m.args[1]}"].weight.zero_()
    elif m.kind == "widen":
        _widen(parent, child, *m.args)
    else:
        raise ValueError(f"unknown macro morphism {m}")
    child.train(parent.training)
    return child


def _widen(parent: MacroNetwork, child: MacroNetwork, i: int, new_width: int) -> None:
    child.load_state_dict({k: v for k, v in parent.state_dict().items()
                           if child.state_dict()[k].shape == v.shape}, strict=False)
    layers = parent.genotype.layers
    old = int(layers[i][1:])
    m = torch.arange(new_width) % old  # new unit -> the unit it copies
    count = torch.bincount(m, minlength=old).to(torch.get_default_dtype())[m]  # replicas of each new unit's original
    span = {i}  # layers whose output carries the widened channels
    k = i + 1
    while k < len(layers) and not layers[k].startswith("c"):
        span.add(k)
        k += 1
    consumer = k  # the next conv layer, or len(layers): the classifier

    def rows(w: torch.Tensor) -> torch.Tensor:  # replicate output units
        return w[m]

    def cols(w: torch.Tensor) -> torch.Tensor:  # replicate input units, divided by their replica count
        shape = [1, -1] + [1] * (w.dim() - 2)
        return w[:, m] / count.view(shape)

    def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(dst, name).copy_(getattr(src, name)[m])
        dst.num_batches_tracked.copy_(src.num_batches_tracked)

    for k in sorted(span):
        src, dst = parent.layers[k], child.layers[k]
        if k == i:
            dst[0].weight.copy_(rows(src[0].weight))
            copy_bn(dst[1], src[1])
        elif isinstance(src, Residual):
            dst.conv.weight.copy_(cols(rows(src.conv.weight)))
            copy_bn(dst.bn, src.bn)
    if consumer < len(layers):
        child.layers[consumer][0].weight.copy_(cols(parent.layers[consumer][0].weight))
    else:
        child.classifier.weight.copy_(cols(parent.classifier.weight))
    for key, conv in parent.skips.items():
        a, b = map(int, key.split("_"))
        w = conv.weight
        if a in span:
            w = cols(w)
        if b in span:
            w = rows(w)
        child.skips[key].weight.copy_(w)
