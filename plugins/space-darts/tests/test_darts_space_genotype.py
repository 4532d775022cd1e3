"""Genotype text, derivation rules (spec §2.5, §10.2 items 4-5) and the parse hook."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api.arch import Genotype
from automl_nas_space_darts import hooks
from automl_nas_space_darts.config import DARTS_OPS, DARTS_OPS_NO_NONE, DartsConfig
from automl_nas_space_darts.genotype import (
    DartsGenotype,
    derive_edge_all,
    derive_top2,
    edge_labels,
    format_genotype,
    parse_genotype,
)
from automl_nas_space_darts.published import PUBLISHED, published
from automl_nas_space_darts.space import DartsSpace

OP = {name: k for k, name in enumerate(DARTS_OPS)}
EDGE = {label: e for e, label in enumerate(edge_labels())}


def worked_example_alpha() -> torch.Tensor:
    a = torch.zeros(14, 8, dtype=torch.float64)
    for edge, op, value in [
        ("2<-0", "sep_conv_3x3", 2.0), ("2<-1", "skip_connect", 1.0), ("3<-0", "none", 5.0),
        ("3<-0", "sep_conv_5x5", 1.0), ("3<-1", "dil_conv_3x3", 0.5), ("3<-2", "max_pool_3x3", 0.3),
        ("4<-3", "sep_conv_3x3", 1.5), ("4<-1", "avg_pool_3x3", 1.0), ("5<-4", "dil_conv_5x5", 0.7),
        ("5<-0", "sep_conv_5x5", 0.6), ("5<-2", "skip_connect", 0.2),
    ]:
        a[EDGE[edge], OP[op]] = value
    return a


WORKED_NORMAL = (("sep_conv_3x3", 0), ("skip_connect", 1), ("dil_conv_3x3", 1), ("max_pool_3x3", 2),
                 ("sep_conv_3x3", 3), ("avg_pool_3x3", 1), ("dil_conv_5x5", 4), ("sep_conv_5x5", 0))


def test_edge_order_is_darts_order():
    assert edge_labels() == ("2<-0", "2<-1", "3<-0", "3<-1", "3<-2", "4<-0", "4<-1", "4<-2", "4<-3",
                             "5<-0", "5<-1", "5<-2", "5<-3", "5<-4")


def test_top2_reproduces_the_worked_example():
    probs = torch.softmax(worked_example_alpha(), -1).tolist()
    assert derive_top2(probs, DARTS_OPS) == WORKED_NORMAL


def test_space_derive_worked_example_and_zero_alpha():
    space = DartsSpace(DartsConfig(channels=4, layers=3))
    g = space.derive({"normal": worked_example_alpha(), "reduce": torch.zeros(14, 8)})
    assert g.space == "darts"
    parsed = parse_genotype(g.text)
    assert parsed.normal == WORKED_NORMAL
    assert parsed.reduce == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4  # α ≡ 0: ties to lowest index
    assert parsed.normal_concat == parsed.reduce_concat == (2, 3, 4, 5)


def test_top2_properties_on_random_alpha():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        probs = torch.softmax(torch.randn(14, 8, generator=gen, dtype=torch.float64), -1).tolist()
        cell = derive_top2(probs, DARTS_OPS)
        assert len(cell) == 8
        for n, i in enumerate(range(2, 6)):
            pairs = cell[2 * n: 2 * n + 2]
            assert all(op != "none" for op, _ in pairs)
            assert len({j for _, j in pairs}) == 2
            assert all(0 <= j < i for _, j in pairs)


def test_top2_without_none_ops():
    probs = torch.softmax(torch.zeros(14, 7), -1).tolist()
    assert derive_top2(probs, DARTS_OPS_NO_NONE) == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4


def test_edge_all_keeps_none_at_3_from_0():
    probs = torch.softmax(worked_example_alpha(), -1).tolist()
    cell = derive_edge_all(probs, DARTS_OPS)
    assert len(cell) == 14
    assert cell[EDGE["3<-0"]] == ("none", 0)
    assert cell[EDGE["2<-0"]] == ("sep_conv_3x3", 0)
    assert cell[EDGE["4<-0"]] == ("none", 0)  # all-zero row: tie to op index 0
    space = DartsSpace(DartsConfig(channels=4, layers=3, derivation="edge_all"))
    g = parse_genotype(space.derive({"normal": worked_example_alpha(), "reduce": worked_example_alpha()}).text)
    assert g.normal == cell and g.reduce == cell


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_round_trip(name):
    g = published(name)
    text = format_genotype(g)
    assert parse_genotype(text) == g
    assert format_genotype(parse_genotype(text)) == text
    assert g.normal_concat == (2, 3, 4, 5)
    assert len(g.normal) in (8, 14)


def test_darts_v2_values_and_canonical_text():
    g = published("DARTS_V2")
    assert g.normal[:2] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert g.reduce[-1] == ("max_pool_3x3", 1)
    assert format_genotype(g) == PUBLISHED["DARTS_V2"]  # the published text is already canonical


def test_parse_variants_wrapper_prefix_and_range():
    text = PUBLISHED["DARTS_V2"]
    bare = text[len("Genotype("):-1].replace("[2, 3, 4, 5]", "range(2, 6)")
    assert parse_genotype(bare) == published("DARTS_V2")
    assert parse_genotype("DARTS_V2 = " + text) == published("DARTS_V2")
    g = published("DARTS_V2")
    positional = f"Genotype({list(g.normal)}, range(2, 6), {list(g.reduce)}, [2, 3, 4, 5])"
    assert parse_genotype(positional) == g


@pytest.mark.parametrize("bad, reason", [
    ("Genotype(normal=[('sep_conv_3x3', 2)] + [], normal_concat=[2], reduce=[], reduce_concat=[])", "literal"),
    ("Genotype(normal=[('bogus_op', 0), ('skip_connect', 1)] , normal_concat=[2], reduce=[], reduce_concat=[])", "entries"),
    ("__import__('os').system('true')", "missing"),  # wrapped as one positional field; nothing runs
    ("Genotype(normal=__import__('os').listdir('.'), normal_concat=[2], reduce=[], reduce_concat=[])", "literal"),
    ("Genotype.__class__(normal=[])", "expected Genotype"),
    ("Genotype(normal=[], normal_concat=[2], reduce=[], reduce_concat=[], extra=1)", "unknown Genotype field"),
    ("Genotype(normal=[], normal_concat=[2])", "missing"),
])
def test_parse_rejects_bad_text(bad, reason):
    with pytest.raises(ValueError, match=reason):
        parse_genotype(bad)


def test_parse_rejects_invalid_structure():
    v2 = PUBLISHED["DARTS_V2"]
    with pytest.raises(ValueError, match="unknown op"):
        parse_genotype(v2.replace("dil_conv_3x3", "conv_7x1_1x7"))
    with pytest.raises(ValueError, match="cannot take input"):
        parse_genotype(v2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"))
    with pytest.raises(ValueError, match="exactly once"):
        parse_genotype(PUBLISHED["SNAS_mild_edge_all"].replace("('none', 4)", "('none', 1)", 1))


def test_fixed_reduction_genotype_from_gdas_frc_space():
    space = DartsSpace(DartsConfig(channels=4, layers=3, reduction="gdas_frc"))
    assert [g.name for g in space.groups()] == ["normal"]
    g = parse_genotype(space.derive({"normal": worked_example_alpha()}).text)
    assert g.fixed_reduction and g.reduce_concat == () and g.normal == WORKED_NORMAL


def test_parse_genotype_hook():
    got = hooks.automl_parse_genotype(PUBLISHED["SNAS_mild"])
    assert got == Genotype("darts", format_genotype(published("SNAS_mild")))
    assert hooks.automl_parse_genotype("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|a~0|b~1|c~2|") is None
    assert hooks.automl_parse_genotype("normal reduce but not python (") is None


def test_register_hook_returns_descriptor_without_torch_work():
    (component,) = hooks.automl_register_search_spaces()
    assert component.kind == "search_space" and component.name == "darts" and component.config is DartsConfig
    assert component.impl == "automl_nas_space_darts.space:DartsSpace"
    assert isinstance(component.load()(DartsConfig()), DartsSpace)


def test_genotype_nodes_split():
    g = published("SNAS_mild_edge_all")
    assert [len(p) for p in g.nodes("normal")] == [2, 3, 4, 5]
    assert [len(p) for p in published("DARTS_V1").nodes("reduce")] == [2, 2, 2, 2]
    assert isinstance(g, DartsGenotype)
