"""DARTS op modules for latency profiling and genotype op counts (the latency cost's inputs)."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import InputSpec
from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.ops import Identity
from automl_nas_space_darts.published import PUBLISHED
from automl_nas_space_darts.space import DartsSpace

CIFAR = InputSpec(channels=3, height=32, width=32, num_classes=10)


@pytest.mark.parametrize("options", [{}, {"partial_channels": 4, "ops": "darts_no_none"}, {"reduction": "gdas_frc", "layers": 6}])
def test_op_modules_agree_with_the_snas_cost_table(options):
    # SNAS' table (spec §5.4) counts conv weights from the op's channels and stride; BN is
    # non-affine in the supernet, so the module's parameters are exactly those weights, and
    # the stride-1 identity's memory access is 2 * C * H^2 of its input.
    space = DartsSpace(DartsConfig(**options))
    costs = space.op_costs(CIFAR)
    positions = list(space.op_modules(CIFAR))
    assert {p.group for p in positions} == set(costs)
    assert len(positions) == sum(t["params"].numel() for t in costs.values())
    for p in positions:
        k = space.ops.index(p.op)
        assert sum(t.numel() for t in p.module.parameters()) == costs[p.group]["params"][p.cell, p.edge, k]
        if isinstance(p.module, Identity):  # stride-1 skip
            c, h, w = p.input_shape
            assert costs[p.group]["mac"][p.cell, p.edge, k] == 2 * c * h * w


def test_reduction_edges_see_the_previous_side():
    space = DartsSpace(DartsConfig(channels=16, layers=8))
    reduce0 = {p.edge: p for p in space.op_modules(CIFAR) if p.group == "reduce" and p.cell == 0 and p.op == "sep_conv_3x3"}
    # edges 2<-0, 2<-1, 3<-0 (stride 2) read the 32x32 cell inputs; 3<-2 (edge 4) reads node 2 at
    # 16x16; C doubles to 32 in the reduction cell
    assert reduce0[0].input_shape == reduce0[1].input_shape == reduce0[2].input_shape == (32, 32, 32)
    assert reduce0[4].input_shape == (32, 16, 16)
    assert reduce0[0].module(torch.randn(1, 32, 32, 32)).shape == (1, 32, 16, 16)


def test_genotype_choices_count_every_entry():
    space = DartsSpace(DartsConfig())
    choices = space.genotype_choices(space.parse(PUBLISHED["DARTS_V2"]))
    for group in ("normal", "reduce"):
        assert choices[group].shape == (14, 8) and choices[group].sum() == 8  # two inputs per node, four nodes
    # DARTS_V2 normal cell, node 2: sep_conv_3x3 from 0 and from 1
    assert choices["normal"][0, space.ops.index("sep_conv_3x3")] == 1
    assert choices["normal"][1, space.ops.index("sep_conv_3x3")] == 1
    # edge_all cells: one entry per edge, `none` included (K = 8) or dropped (K = 7: it costs nothing)
    text = PUBLISHED["SNAS_moderate_edge_all"]
    full = space.genotype_choices(space.parse(text))
    assert all(torch.equal(full[g].sum(-1), torch.ones(14)) for g in full)
    no_none = DartsSpace(DartsConfig(ops="darts_no_none"))
    dropped = no_none.genotype_choices(no_none.parse(text))
    assert dropped["normal"].shape == (14, 7)
    assert sum(float(t.sum()) for t in dropped.values()) == 28 - text.count("none")
