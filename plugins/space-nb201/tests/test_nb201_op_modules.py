"""NB201 op modules for latency profiling and genotype op counts (the latency cost's inputs)."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import InputSpec
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.space import Nb201Space

CIFAR = InputSpec(channels=3, height=32, width=32, num_classes=10)


@pytest.mark.parametrize("options", [{}, {"partial_channels": 4}, {"affine": True, "channels": 8, "cells_per_stage": 2}])
def test_op_modules_agree_with_the_cost_model(options):
    # The analytic model counts each op's params from its channels, and skip's memory access
    # as 2 * C * H * W of the op's input: both must describe the module and shape yielded.
    space = Nb201Space(Nb201Config(**options))
    costs = space.op_costs(CIFAR)["cell"]
    positions = list(space.op_modules(CIFAR))
    assert len(positions) == costs["params"].numel()
    ops = space.groups()[0].ops
    for p in positions:
        k = ops.index(p.op)
        assert sum(t.numel() for t in p.module.parameters()) == costs["params"][p.cell, p.edge, k]
        c, h, w = p.input_shape
        assert costs["mac"][p.cell, p.edge, ops.index("skip_connect")] == 2 * c * h * w


def test_op_modules_stage_shapes_and_sharing():
    space = Nb201Space(Nb201Config(channels=16, cells_per_stage=2))
    positions = list(space.op_modules(CIFAR))
    shapes = {p.cell: p.input_shape for p in positions}
    assert shapes == {0: (16, 32, 32), 1: (16, 32, 32), 2: (32, 16, 16), 3: (32, 16, 16), 4: (64, 8, 8), 5: (64, 8, 8)}
    # one module per stage and op, reused by every edge and cell of the stage
    assert len({id(p.module) for p in positions}) == 3 * 5
    conv = next(p for p in positions if p.op == "nor_conv_3x3" and p.cell == 2)
    assert conv.module(torch.randn(2, *conv.input_shape)).shape == (2, 32, 16, 16)


def test_genotype_choices_are_one_hot_rows():
    space = Nb201Space(Nb201Config(channels=4, cells_per_stage=1))
    genotype = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    choices = space.genotype_choices(genotype)["cell"]
    ops = space.groups()[0].ops
    assert choices.shape == (6, 5) and torch.equal(choices.sum(-1), torch.ones(6))
    assert [ops[k] for k in choices.argmax(-1).tolist()] == ["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3",
                                                             "nor_conv_1x1", "nor_conv_3x3"]
