"""Issue 18: AutoDL-Projects' GDAS derivation (top2_joint) and search cells without BN after pooling."""

from __future__ import annotations

import torch

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas_space_darts.config import DARTS_OPS, DartsConfig
from automl_nas_space_darts.genotype import derive_top2, derive_top2_joint, edge_labels, format_genotype, parse_genotype
from automl_nas_space_darts.space import DartsSpace

OP = {name: k for k, name in enumerate(DARTS_OPS)}
EDGE = {label: e for e, label in enumerate(edge_labels())}
TINY8 = InputSpec(height=8, width=8, num_classes=10)
TINY = dict(channels=4, layers=3, eval_channels=4, eval_layers=3)


def _autodl_parse(weights, ops=DARTS_OPS, steps=4):
    """AutoDL's genotype()._parse, transcribed (search_model_gdas_nasnet.py:129-143)."""
    gene, start = [], 0
    for i in range(steps):
        edges = []
        for j in range(2 + i):
            ws = weights[start + j]
            for k, op_name in enumerate(ops):
                if op_name == "none":
                    continue
                edges.append((op_name, j, ws[k]))
        edges = sorted(edges, key=lambda x: -x[-1])
        gene.extend((op, j) for op, j, _ in edges[:2])
        start += 2 + i
    return tuple(gene)


def test_top2_joint_keeps_two_ops_of_one_input_where_top2_cannot():
    p = torch.full((14, 8), 0.01, dtype=torch.float64)
    p[EDGE["2<-0"], OP["sep_conv_3x3"]] = 0.5
    p[EDGE["2<-0"], OP["skip_connect"]] = 0.4  # second strongest pair reads input 0 again
    p[EDGE["2<-1"], OP["max_pool_3x3"]] = 0.3
    p[EDGE["2<-1"], OP["none"]] = 0.9  # `none` never counts
    joint = derive_top2_joint(p.tolist(), DARTS_OPS)
    assert joint[:2] == (("sep_conv_3x3", 0), ("skip_connect", 0))
    assert derive_top2(p.tolist(), DARTS_OPS)[:2] == (("sep_conv_3x3", 0), ("max_pool_3x3", 1))


def test_top2_joint_is_autodl_parse_on_random_alphas():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        probs = torch.softmax(torch.randn(14, 8, generator=g, dtype=torch.float64), -1).tolist()
        assert derive_top2_joint(probs, DARTS_OPS) == _autodl_parse(probs)


def test_space_derives_top2_joint_and_the_genotype_builds_and_parses():
    space = DartsSpace(DartsConfig(**TINY, derivation="top2_joint"))
    a = torch.zeros(14, 8)
    a[EDGE["2<-0"], OP["sep_conv_3x3"]] = 4.0
    a[EDGE["2<-0"], OP["dil_conv_3x3"]] = 3.0
    genotype = space.derive({"normal": a, "reduce": a.clone()})
    cell = parse_genotype(genotype.text)
    assert cell.normal[:2] == (("sep_conv_3x3", 0), ("dil_conv_3x3", 0))
    assert format_genotype(cell) == genotype.text
    net = space.build_network(genotype, TINY8).eval()
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def _pool_bns(net) -> int:
    count = 0
    for cell in net.cells:
        for edge in getattr(cell, "edges", []):
            for op in getattr(edge, "_ops", getattr(edge, "ops", [])):
                if isinstance(op, torch.nn.Sequential) and isinstance(op[0], (torch.nn.MaxPool2d, torch.nn.AvgPool2d)):
                    count += isinstance(op[-1], torch.nn.BatchNorm2d)
    return count


def _pools(net) -> int:
    return sum(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in net.cells.modules())


def test_search_pool_bn_false_builds_autodl_pools_and_trains():
    darts = DartsSpace(DartsConfig(**TINY)).build_supernet(TINY8)
    autodl_space = DartsSpace(DartsConfig(**TINY, search_pool_bn=False, layout="gdas", track_running_stats=True))
    autodl = autodl_space.build_supernet(TINY8)
    bns = lambda net: sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.cells.modules())  # noqa: E731
    assert _pools(darts) == _pools(autodl) == 3 * 14 * 2  # 3 cells x 14 edges x (max, avg)
    assert bns(darts) - bns(autodl) == _pools(darts)  # one non-affine BN per pool, and only there
    torch.manual_seed(0)
    params = {g.name: (1e-3 * torch.randn(g.shape)).requires_grad_() for g in autodl_space.groups()}
    sample = {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()}
    autodl(torch.randn(2, 3, 8, 8), sample).sum().backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in params.values())


def test_fused_and_plain_paths_agree_without_pool_bn():
    torch.manual_seed(0)
    space = DartsSpace(DartsConfig(**TINY, search_pool_bn=False))
    net = space.build_supernet(TINY8)
    params = {g.name: torch.randn(g.shape) for g in space.groups()}
    sample = {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()}
    x = torch.randn(2, 3, 8, 8)
    fast = net(x, sample)
    for cell in net.cells:
        cell.fast_paths = False
    net.fast_paths = False
    plain = net(x, sample)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)


def test_gdas_darts_recipe_defaults_to_autodl():
    from pathlib import Path

    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "gdas-darts.toml"
    config = plan_recipe(recipe, open_session().registry).space.config
    assert (config.derivation, config.search_pool_bn) == ("top2_joint", False)
    assert DartsConfig().derivation == "top2" and DartsConfig().search_pool_bn is True  # other recipes: unchanged
