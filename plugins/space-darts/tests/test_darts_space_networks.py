"""Supernet, evaluation network, exact network costs and options of the DARTS space (spec §2.2-2.4, §10.2)."""

from __future__ import annotations

import attrs
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from automl_nas.api import EdgeWeights, Genotype, InputSpec
from automl_nas.testing.contracts import SearchSpaceContract
from automl_nas_space_darts.cells import GdasReductionCell, drop_path
from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.genotype import edge_labels
from automl_nas_space_darts.published import PUBLISHED
from automl_nas_space_darts.space import DartsSpace


TINY8 = InputSpec(height=8, width=8, num_classes=10)
TINY_CFG = dict(channels=4, layers=3, eval_channels=4, eval_layers=3)


class TestDartsSpaceContract(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return DartsSpace(DartsConfig(**TINY_CFG))


def soft_sample(space, requires_grad=True):
    params = {g.name: (1e-3 * torch.randn(g.shape)).requires_grad_(requires_grad) for g in space.groups()}
    return params, {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()}


def test_groups_shapes_and_labels():
    space = DartsSpace(DartsConfig())
    normal, reduce = space.groups()
    assert (normal.name, reduce.name) == ("normal", "reduce")
    assert normal.shape == reduce.shape == (14, 8)
    assert normal.edges == edge_labels() and normal.edges[4] == "3<-2"
    assert normal.ops == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    assert (normal.cells, reduce.cells) == (6, 2)
    assert DartsSpace(DartsConfig(ops="darts_no_none")).groups()[0].shape == (14, 7)
    assert space.size() is None


def test_tiny_supernet_shapes_and_gradients():
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(**TINY_CFG))
    net = space.build_supernet(TINY8)
    shapes = []
    for cell in net.cells:
        cell.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    params, sample = soft_sample(space)
    out = net(torch.randn(2, 3, 8, 8), sample)
    assert out.shape == (2, 10)
    # layers=3: reductions at 1 and 2; each cell outputs 4C channels
    assert [c.reduction for c in net.cells] == [False, True, True]
    assert shapes == [(2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2)]
    out.logsumexp(-1).sum().backward()
    for p in params.values():
        assert torch.isfinite(p.grad).all() and (p.grad != 0).all()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    # search BN: non-affine, no running stats by default; stem BN affine and tracked
    bns = [m for m in net.cells.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.affine or m.track_running_stats for m in bns)
    assert net.stem[1].affine and net.stem[1].track_running_stats


def test_supernet_drop_path_only_in_training():
    space = DartsSpace(DartsConfig(**TINY_CFG, drop_path=0.3))
    net = space.build_supernet(TINY8)
    assert net.drop_path == 0.3
    _, sample = soft_sample(space, requires_grad=False)
    x = torch.randn(4, 3, 8, 8)
    net.eval()
    torch.testing.assert_close(net(x, sample), net(x, sample))
    net.train()
    torch.manual_seed(1)
    a = net(x, sample)
    torch.manual_seed(2)
    assert not torch.allclose(a, net(x, sample))


def test_drop_path_zeroes_whole_samples():
    torch.manual_seed(0)
    y = drop_path(torch.ones(64, 2, 3, 3), 0.5)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)


@pytest.mark.parametrize("options", [
    dict(partial_channels=2),
    dict(reduction="gdas_frc"),
    dict(layout="gdas", track_running_stats=True, affine=True),
    dict(ops="darts_no_none"),
])
def test_supernet_variants_run(options):
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(**TINY_CFG, **options))
    net = space.build_supernet(TINY8)
    params, sample = soft_sample(space)
    net(torch.randn(2, 3, 8, 8), sample).sum().backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in params.values())
    if options.get("reduction") == "gdas_frc":
        assert [isinstance(c, GdasReductionCell) for c in net.cells] == [False, True, True]
    if options.get("layout") == "gdas":
        assert isinstance(net.lastact[0], torch.nn.BatchNorm2d)


@pytest.mark.parametrize("name", ["DARTS_V2", "SNAS_mild_edge_all"])
def test_eval_network_aux_and_modes(name):
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(**TINY_CFG))
    inputs = InputSpec(height=32, width=32, num_classes=10)
    net = space.build_network(space.parse(PUBLISHED[name]), inputs)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    net.drop_path_prob = 0.2
    logits, aux = net(x)
    assert logits.shape == aux.shape == (2, 10)
    assert net.aux_index == 2 and net.auxiliary_head.features[5].kernel_size == (2, 2)  # CIFAR: 8x8 -> 2x2 -> 1x1
    (logits.sum() + 0.4 * aux.sum()).backward()
    net.eval()
    out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    assert net.drop_path_max == 0.2
    bns = [m for m in net.cells.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.affine and m.track_running_stats for m in bns)


def test_eval_network_pool_bn_option():
    genotype = Genotype("darts", PUBLISHED["DARTS_V2"])
    plain = DartsSpace(DartsConfig(**TINY_CFG)).build_network(genotype, TINY8)
    drnas = DartsSpace(DartsConfig(**TINY_CFG, pool_bn=True)).build_network(genotype, TINY8)
    count = lambda net: sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.cells.modules())  # noqa: E731
    assert count(drnas) - count(plain) == 2 * 5  # DARTS_V2's reduction cell has 5 max pools; L=3 has 2 of them
    with pytest.raises(ValueError, match="space 'nb201'"):
        DartsSpace().build_network(Genotype("nb201", "|skip_connect~0|+|"), TINY8)


def _frc_genotype() -> Genotype:
    space = DartsSpace(DartsConfig(reduction="gdas_frc"))
    return space.derive({"normal": torch.randn(14, 8, generator=torch.Generator().manual_seed(3))})


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (40, 24)])
@pytest.mark.parametrize("name", ["DARTS_V2", "SNAS_mild_edge_all", "GDAS_V1", "DrNAS_cifar10", "gdas_frc"])
def test_genotype_costs_match_flop_counter(name, size):
    # Small evaluation network (C=8, L=5). FlopCounterMode counts 2 FLOPs per conv/linear
    # multiply-add and nothing for pools/BN/ReLU; the auxiliary head is excluded (eval mode).
    # Non-square images: the count used the height alone (24x40 was counted 24x24).
    space = DartsSpace(DartsConfig(eval_channels=8, eval_layers=5))
    inputs = InputSpec(height=size[0], width=size[1], num_classes=10)
    genotype = _frc_genotype() if name == "gdas_frc" else space.parse(PUBLISHED[name])
    costs = space.genotype_costs(genotype, inputs)
    net = space.build_network(genotype, inputs).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, *size))
    measured = counter.get_total_flops() / 2
    assert abs(costs["flops"] - measured) <= 0.01 * measured
    assert costs["params"] == sum(p.numel() for n, p in net.named_parameters() if not n.startswith("auxiliary_head."))


@pytest.mark.parametrize("size", [(32, 32), (24, 40), (40, 24), (64, 64)])
def test_the_auxiliary_head_takes_the_feature_map_of_any_image_shape(size):
    """A 24x40 image failed in training mode (the head's last conv was sized for a square map:
    "mat1 and mat2 shapes cannot be multiplied"), and 40x24 in building it."""
    space = DartsSpace(DartsConfig(eval_channels=8, eval_layers=6))
    net = space.build_network(space.parse(PUBLISHED["DARTS_V2"]), InputSpec(height=size[0], width=size[1], num_classes=7))
    logits, aux = net.train()(torch.randn(2, 3, *size))
    assert logits.shape == aux.shape == (2, 7)
    if size == (32, 32):  # DARTS' CIFAR head: 8x8 map, avg-pool 5/3 to 2x2, a 2x2 conv
        assert net.auxiliary_head.features[5].kernel_size == (2, 2)


def test_snas_supernet_costs_count_the_pixels_of_a_non_square_image():
    """SNAS' per-op costs were computed from the height alone."""
    from automl_nas_space_darts.costs import snas_op_cost

    space = DartsSpace(DartsConfig(channels=4, layers=5))
    wide = space.op_costs(InputSpec(height=24, width=40))["normal"]["flops"]
    square = space.op_costs(InputSpec(height=24, width=24))["normal"]["flops"]
    conv = space.ops.index("sep_conv_3x3")
    assert float(wide[0, 0, conv]) == pytest.approx(float(square[0, 0, conv]) * 40 / 24)
    assert snas_op_cost("sep_conv_3x3", 4, (24, 40), 1)[1] == snas_op_cost("sep_conv_3x3", 4, 24, 1)[1] * 40 / 24


def test_darts_v2_standard_size():
    # DARTS_V2 at C=36, L=20 on CIFAR-10: 3.35 M parameters, 528 M multiply-adds (AutoDL: "528M, 3.3")
    costs = DartsSpace().genotype_costs(Genotype("darts", PUBLISHED["DARTS_V2"]), InputSpec())
    assert costs == {"params": 3_349_342.0, "flops": 528_359_040.0}


@pytest.mark.parametrize("bad", [
    dict(layers=2), dict(channels=0), dict(steps=4, multiplier=5), dict(ops="nb201"), dict(derivation="top3"),
    dict(drop_path=1.0), dict(drop_path=-0.1), dict(partial_channels=0), dict(reduction="fixed"),
    dict(layout="gdas", layers=8), dict(affine=1), dict(eval_drop_path=1.5), dict(eval_layers=2),
])
def test_config_validators(bad):
    with pytest.raises((ValueError, TypeError)):
        DartsConfig(**bad)


def test_config_fields_documented_and_defaults():
    cfg = DartsConfig()
    assert (cfg.channels, cfg.layers, cfg.steps, cfg.multiplier, cfg.stem_multiplier) == (16, 8, 4, 4, 3)
    assert (cfg.eval_channels, cfg.eval_layers, cfg.auxiliary, cfg.eval_drop_path) == (36, 20, True, 0.2)
    assert all(f.metadata.get("help") for f in attrs.fields(DartsConfig))
