"""NB201 space: groups, derivation, supernet and standalone networks (spec §10.1.1, .3, .8)."""

from __future__ import annotations

import re

import pytest
import torch

from automl_nas.api import EdgeWeights, Genotype, GroupSpec, InputSpec
from automl_nas.nn import MixedOp, PartialMixedOp
from automl_nas.manager import build_registry, get_plugin_manager
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.network import InferCell, SearchCell
from automl_nas_space_nb201.ops import ResidualBlock
from automl_nas_space_nb201.space import Nb201Space

TINY = InputSpec(channels=3, height=8, width=8, num_classes=10)
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def tiny_space(**options) -> Nb201Space:
    return Nb201Space(Nb201Config(channels=4, cells_per_stage=1, **options))


def soft(weights: torch.Tensor) -> dict[str, EdgeWeights]:
    return {"cell": EdgeWeights(weights=weights)}


def test_registry_builds_the_space():
    registry = build_registry(get_plugin_manager())
    space = registry.create("search_space", "nb201", Nb201Config(channels=4, cells_per_stage=2))
    assert isinstance(space, Nb201Space) and space.config.cells_per_stage == 2
    assert space.fingerprint()["channels"] == 4


def test_groups():
    (group,) = Nb201Space().groups()
    assert group == GroupSpec(name="cell", ops=("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"),
                              edges=("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"), cells=15, zero_ops=("none",),
                              param_free_ops=("skip_connect", "avg_pool_3x3"), skip_ops=("skip_connect",))
    assert group.shape == (6, 5)


def test_derive_one_hot_scaled_and_shifted():
    space = Nb201Space()
    idx = torch.tensor([3, 0, 4, 1, 2, 3])
    onehot = torch.nn.functional.one_hot(idx, 5).float()
    shift = torch.tensor([[-2.0], [0.5], [7.0], [0.0], [-100.0], [3.0]])
    for scale in (1e-3, 1.0, 250.0):
        genotype = space.derive({"cell": scale * onehot + shift})
        assert space.to_ops(genotype) == (3, 0, 4, 1, 2, 3)
    assert genotype == Genotype("nb201", "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")


def test_derive_ties_go_to_lowest_index():
    space = Nb201Space()
    assert space.to_ops(space.derive({"cell": torch.zeros(6, 5)})) == (0,) * 6
    alpha = torch.zeros(6, 5)
    alpha[:, 2] = alpha[:, 4] = 1.0
    assert space.to_ops(space.derive({"cell": alpha})) == (2,) * 6


def test_derive_rejects_bad_params():
    with pytest.raises(ValueError, match=re.escape("shape (6, 5)")):
        Nb201Space().derive({"cell": torch.zeros(14, 8)})
    with pytest.raises(ValueError, match="'cell'"):
        Nb201Space().derive({"normal": torch.zeros(6, 5)})


def test_space_encoding_methods():
    space = Nb201Space()
    g = space.parse(BEST)
    assert space.size() == 15625
    assert space.encode(g) == 3 * 3125 + 3 * 625 + 3 * 125 + 25 + 15 + 3
    assert space.decode(space.encode(g)) == g and space.from_ops(space.to_ops(g)) == g
    assert sum(1 for _ in space.enumerate()) == 15625
    with pytest.raises(ValueError, match="space 'darts'"):
        space.to_ops(Genotype("darts", BEST))


def test_supernet_shapes_and_blocks():
    torch.manual_seed(0)
    net = tiny_space().build_supernet(TINY)
    kinds = [type(b) for b in net.cells]
    assert kinds == [SearchCell, ResidualBlock, SearchCell, ResidualBlock, SearchCell]
    seen = []
    for block in net.cells:
        block.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:])))
    out = net(torch.randn(2, 3, 8, 8), soft(torch.softmax(torch.randn(6, 5), -1)))
    assert out.shape == (2, 10)
    assert seen == [(4, 8, 8), (8, 4, 4), (8, 4, 4), (16, 2, 2), (16, 2, 2)]
    # search-cell BNs follow the options; stem, residual and head BNs are affine and tracked
    bns = {name: m for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    for name, bn in bns.items():
        in_cell = name.startswith(("cells.0.", "cells.2.", "cells.4."))
        assert bn.affine is (not in_cell) and bn.track_running_stats is (not in_cell), name
    assert not any(isinstance(p, torch.nn.Parameter) and p.shape == (6, 5) for p in net.parameters())


def test_all_none_supernet_ignores_the_image():
    torch.manual_seed(0)
    net = tiny_space().build_supernet(TINY)
    sample = soft(torch.nn.functional.one_hot(torch.zeros(6, dtype=torch.long), 5).float())
    x1, x2 = torch.randn(2, 3, 8, 8), 5 * torch.randn(2, 3, 8, 8)
    for mode in (net.train, net.eval):
        mode()
        y1, y2 = net(x1, sample), net(x2, sample)
        assert y1.shape == (2, 10) and torch.isfinite(y1).all()
        torch.testing.assert_close(y1, y2, rtol=0, atol=1e-6)


def _copy_supernet_into(net: torch.nn.Module, supernet: torch.nn.Module, ops: tuple[int, ...]) -> None:
    source = supernet.state_dict()
    state = {}
    for key in net.state_dict():
        m = re.match(r"cells\.(\d+)\.edges\.(\d+)\.(.*)", key)
        state[key] = source[f"cells.{m[1]}.edges.{m[2]}.ops.{ops[int(m[2])]}.{m[3]}" if m else key]
    net.load_state_dict(state)


@pytest.mark.parametrize("text", [BEST, "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|nor_conv_3x3~2|"])
def test_one_hot_supernet_equals_standalone_network(text):
    torch.manual_seed(0)
    space = tiny_space(affine=True, track_running_stats=True)
    genotype = space.parse(text)
    ops = space.to_ops(genotype)
    supernet = space.build_supernet(TINY).double()
    net = space.build_network(genotype, TINY).double()
    assert all(isinstance(c, InferCell) for c in net.cells[::2])
    _copy_supernet_into(net, supernet, ops)
    idx = torch.tensor(ops)
    sample = {"cell": EdgeWeights(weights=torch.nn.functional.one_hot(idx, 5).double(), active=idx)}
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    for mode in ("train", "eval"):
        supernet.train(mode == "train"), net.train(mode == "train")
        torch.testing.assert_close(supernet(x, sample), net(x), rtol=1e-9, atol=1e-12)


def test_standalone_network_bns_and_imagenet16_input():
    spec = InputSpec(channels=3, height=16, width=16, num_classes=120)
    net = Nb201Space(Nb201Config(channels=4, cells_per_stage=2)).build_network(Nb201Space().parse(BEST), spec)
    assert all(m.affine and m.track_running_stats for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert len(net.cells) == 3 * 2 + 2
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 120)


def test_partial_channels():
    torch.manual_seed(0)
    net = Nb201Space(Nb201Config(channels=8, cells_per_stage=1, partial_channels=4)).build_supernet(TINY)
    edge = net.cells[0].edges[0]
    assert isinstance(edge, PartialMixedOp) and edge.k == 4
    assert edge.mixed.ops[3][1].in_channels == 2 and net.cells[2].edges[5].mixed.ops[2][1].out_channels == 4
    assert net(torch.randn(2, 3, 8, 8), soft(torch.softmax(torch.randn(6, 5), -1))).shape == (2, 10)
    plain = tiny_space().build_supernet(TINY)
    assert isinstance(plain.cells[0].edges[0], MixedOp)
