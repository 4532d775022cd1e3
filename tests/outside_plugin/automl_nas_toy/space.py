"""Implementations of the toy components (imports torch lazily via the host)."""

from __future__ import annotations

import torch
from torch import nn

from automl_nas.api import (DatasetProvider, EdgeWeights, Evaluator, Genotype, GroupSpec, ImageSet, InputSpec, Sampler,
                            SearchSpace)
from automl_nas.nn import MixedOp

OPS = ("none", "skip_connect", "conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1))


class Zero(nn.Module):
    is_zero = True

    def forward(self, x):
        return x * 0


def make_op(name: str, c: int) -> nn.Module:
    return {"none": lambda: Zero(), "skip_connect": lambda: nn.Identity(),
            "conv_3x3": lambda: nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, affine=False)),
            "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False)}[name]()


class ToyNet(nn.Module):
    def __init__(self, c: int, inputs: InputSpec, ops=None) -> None:
        super().__init__()
        self.stem = nn.Conv2d(inputs.channels, c, 3, padding=1)
        self.ops = ops
        self.edges = nn.ModuleList(MixedOp([make_op(o, c) for o in OPS]) if ops is None else make_op(ops[e], c) for e in range(3))
        self.head = nn.Linear(c, inputs.num_classes)

    def forward(self, x, sample=None):
        nodes = [self.stem(x)]
        for i in (1, 2):
            acc = 0
            for e, (dst, src) in enumerate(EDGES):
                if dst == i:
                    acc = acc + (self.edges[e](nodes[src], sample["cell"], e) if self.ops is None else self.edges[e](nodes[src]))
            nodes.append(acc)
        return self.head(nodes[-1].mean((2, 3)))


class ToySpace(SearchSpace):
    name = "toy"

    def __init__(self, config) -> None:
        self.c = config.channels

    def groups(self):
        return [GroupSpec(name="cell", ops=OPS, edges=tuple(f"{a}<-{b}" for a, b in EDGES), zero_ops=("none",),
                          param_free_ops=("skip_connect", "avg_pool_3x3"), skip_ops=("skip_connect",))]

    def build_supernet(self, inputs):
        return ToyNet(self.c, inputs)

    def derive(self, params):
        return self.from_ops(tuple(int(i) for i in params["cell"].argmax(-1)))

    def build_network(self, genotype, inputs):
        return ToyNet(self.c, inputs, ops=self.parse(genotype.text).text[4:].split(","))

    def parse(self, text):
        names = text.removeprefix("toy:").split(",")
        if len(names) != 3 or any(n not in OPS for n in names):
            raise ValueError(f"{text!r} is not a toy genotype (toy:op,op,op with ops from {OPS})")
        return Genotype("toy", "toy:" + ",".join(names))

    def size(self):
        return len(OPS) ** 3

    def to_ops(self, genotype):
        return tuple(OPS.index(n) for n in self.parse(genotype.text).text[4:].split(","))

    def from_ops(self, ops):
        return Genotype("toy", "toy:" + ",".join(OPS[i] for i in ops))

    def encode(self, genotype):
        a, b, c = self.to_ops(genotype)
        return (a * 4 + b) * 4 + c

    def decode(self, index):
        return self.from_ops((index // 16, index // 4 % 4, index % 4))


class SoftmaxSampler(Sampler):
    name = "toy-softmax"

    def __init__(self, config=None) -> None:
        pass

    def sample(self, params, *, phase):
        return {g: EdgeWeights(weights=torch.softmax(p, -1)) for g, p in params.items()}

    def probs(self, params):
        return {g: torch.softmax(p, -1) for g, p in params.items()}


class Blobs(DatasetProvider):
    name = "toy-blobs"

    def __init__(self, config) -> None:
        self.config = config

    def load(self):
        gen = torch.Generator().manual_seed(self.config.seed)
        n = self.config.count
        y = torch.arange(n) % 2
        x = (torch.rand(n, 1, 8, 8, generator=gen) * 120 + y.view(-1, 1, 1, 1) * 100).to(torch.uint8)
        return ImageSet(name="toy-blobs", train_x=x, train_y=y, test_x=x[:8], test_y=y[:8], mean=(0.5,), std=(0.25,),
                        num_classes=2, crop_padding=1, source="generated")


class CountConvs(Evaluator):
    name = "toy-count"
    metrics = ("convs",)

    def __init__(self, config=None) -> None:
        pass

    def evaluate(self, genotype, ctx):
        return {"convs": float(genotype.text.count("conv_3x3"))}
