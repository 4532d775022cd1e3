"""NB201 cost model: per-op tables and exact standalone-network params/FLOPs."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from automl_nas.api import InputSpec
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.space import Nb201Space

CIFAR = InputSpec(channels=3, height=32, width=32, num_classes=10)
GENOTYPES = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|",
]


def test_op_costs_table_c16_n5_cifar():
    costs = Nb201Space().op_costs(CIFAR)["cell"]
    assert set(costs) == {"params", "flops", "mac"}
    assert all(t.shape == (15, 6, 5) for t in costs.values())
    # columns: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3 -- first stage (C=16, 32x32)
    assert costs["params"][0, 0].tolist() == [0, 0, 256, 2304, 0]
    assert costs["flops"][0, 3].tolist() == [0, 0, 256 * 1024, 2304 * 1024, 147456]
    assert costs["mac"][4, 5].tolist() == [0, 32768, 32768 + 256, 32768 + 2304, 32768]
    # third stage (C=64, 8x8): every cell of a stage and every edge has the same row
    assert costs["params"][10, 2].tolist() == [0, 0, 4096, 36864, 0]
    assert costs["flops"][14, 0].tolist() == [0, 0, 4096 * 64, 36864 * 64, 9 * 64 * 64]
    assert torch.equal(costs["flops"][5], costs["flops"][9]) and not torch.equal(costs["flops"][4], costs["flops"][5])


def test_op_costs_affine_and_partial_channels():
    affine = Nb201Space(Nb201Config(affine=True)).op_costs(CIFAR)["cell"]
    assert affine["params"][0, 0].tolist() == [0, 0, 256 + 32, 2304 + 32, 0]
    partial = Nb201Space(Nb201Config(partial_channels=4)).op_costs(CIFAR)["cell"]
    assert partial["params"][0, 0].tolist() == [0, 0, 16, 144, 0]
    assert partial["mac"][0, 0, 1].item() == 2 * 4 * 1024


def test_op_costs_params_match_supernet_modules():
    space = Nb201Space(Nb201Config(channels=4, cells_per_stage=1, affine=True))
    spec = InputSpec(height=8, width=8)
    params = space.op_costs(spec)["cell"]["params"]
    cells = space.build_supernet(spec).cells[::2]
    for c, cell in enumerate(cells):
        for e, edge in enumerate(cell.edges):
            assert [sum(p.numel() for p in op.parameters()) for op in edge.ops] == params[c, e].tolist()


@pytest.mark.parametrize("text", GENOTYPES)
def test_genotype_costs_match_built_network(text):
    space = Nb201Space()
    genotype = space.parse(text)
    cost = space.genotype_costs(genotype, CIFAR)
    net = space.build_network(genotype, CIFAR).eval()
    # params: every parameter counted (BN affine included, conv bias absent) -> exact equality
    assert cost["params"] == sum(p.numel() for p in net.parameters())
    # FLOPs: FlopCounterMode counts 2 * MACs of conv/linear and ignores pooling, so add the
    # cell avg-pools at the documented 9 adds per output element before comparing.
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, 32, 32))
    n_pool = space.to_ops(genotype).count(4)
    pool = 5 * n_pool * 9 * (16 * 32 * 32 + 32 * 16 * 16 + 64 * 8 * 8)
    measured = counter.get_total_flops() / 2 + pool
    assert abs(measured - cost["flops"]) <= 0.01 * cost["flops"]
    assert measured == cost["flops"]  # the model is exact for conv + linear


def test_genotype_costs_decompose_into_skeleton_plus_op_costs():
    space_affine = Nb201Space(Nb201Config(affine=True))
    table = space_affine.op_costs(CIFAR)["cell"]
    base = Nb201Space().genotype_costs(Nb201Space().parse(GENOTYPES[3]), CIFAR)  # all none = skeleton
    stem = 3 * 16 * 9 + 2 * 16
    res1 = 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 2 * 2 * 32
    res2 = 9 * 32 * 64 + 9 * 64 * 64 + 32 * 64 + 2 * 2 * 64
    head = 2 * 64 + 64 * 10 + 10
    assert base["params"] == stem + res1 + res2 + head == 73306
    stem_f = 3 * 16 * 9 * 1024
    res_f = (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32) * 256 + (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64) * 64
    assert base["flops"] == stem_f + res_f + 64 * 10
    for text in GENOTYPES:
        ops = space_affine.to_ops(space_affine.parse(text))
        cost = space_affine.genotype_costs(space_affine.parse(text), CIFAR)
        for metric in ("params", "flops"):
            chosen = sum(table[metric][c, e, k].item() for c in range(15) for e, k in enumerate(ops))
            assert cost[metric] == base[metric] + chosen, (text, metric)

