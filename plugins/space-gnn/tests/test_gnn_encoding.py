"""GNN space encoding: the ported benchmark hash equals the package's own, text and index round trips."""

from __future__ import annotations

import itertools

import pytest

from automl_nas.api import Genotype
from automl_nas_space_gnn import encoding
from automl_nas_space_gnn.config import GnnConfig
from automl_nas_space_gnn.hooks import automl_parse_genotype
from automl_nas_space_gnn.space import GnnSpace


def test_hash_equals_the_package_on_every_architecture():
    from nas_bench_graph.architecture import Arch

    seen = set()
    for link in encoding.LINKS:
        for ops in itertools.product(encoding.OPS, repeat=encoding.NUM_LAYERS):
            ours = encoding.benchmark_hash(link, ops)
            assert ours == Arch(list(link), list(ops)).valid_hash(), (link, ops)
            seen.add(ours)
    # 26,206 architectures in the tables plus the all-skip sentinel 88888 (not in any table)
    assert len(seen) == 26_206 + 1 and 88888 in seen


def test_hash_of_relabelled_patterns_matches_the_package():
    # regularize() maps unlisted patterns onto listed ones; the port keeps every branch.
    from nas_bench_graph.architecture import Arch

    for link in encoding._REGULARIZE:
        for ops in (("gcn", "gat", "skip", "fc"), ("skip", "sage", "gin", "skip"), ("cheb", "skip", "skip", "arma")):
            assert encoding.benchmark_hash(link, ops) == Arch(list(link), list(ops)).valid_hash()


def test_isomorphic_architectures_share_a_hash():
    # two parallel branches from the input are interchangeable
    a = encoding.benchmark_hash((0, 0, 1, 2), ("gcn", "gat", "sage", "fc"))
    b = encoding.benchmark_hash((0, 0, 1, 2), ("gat", "gcn", "fc", "sage"))
    assert a == b
    assert encoding.benchmark_hash((0, 1, 2, 3), ("gcn", "gcn", "gcn", "gcn")) != a


def test_text_round_trip_and_readable_errors():
    space = GnnSpace()
    g = space.parse("link=[0, 0, 1, 2]  ops=[gcn, gat, sage, fc]")
    assert g == Genotype("gnn", "link=[0,0,1,2] ops=[gcn,gat,sage,fc]")
    with pytest.raises(ValueError, match="not one of the benchmark's 9 patterns"):
        space.parse("link=[0,2,2,2] ops=[gcn,gat,sage,fc]")
    with pytest.raises(ValueError, match="unknown op"):
        space.parse("link=[0,0,1,2] ops=[gcn,gat,sage,mlp]")
    with pytest.raises(ValueError, match="4 layers"):
        space.parse("link=[0,0,1,2] ops=[gcn,gat,sage]")
    assert automl_parse_genotype("link=[0,1,2,3] ops=[gcn,gcn,gcn,gcn]") == Genotype("gnn", "link=[0,1,2,3] ops=[gcn,gcn,gcn,gcn]")
    assert automl_parse_genotype("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|") is None


def test_a_pattern_the_benchmark_relabels_is_refused_naming_the_same_network_in_listed_form():
    import re

    ops = ("gcn", "gat", "skip", "fc")
    for link in encoding._REGULARIZE:
        with pytest.raises(ValueError, match="numbered otherwise") as raised:
            encoding.parse_arch(encoding.format_arch(link, ops))
        listed, listed_ops = encoding.parse_arch(re.search(r"as '([^']+)'", str(raised.value)).group(1))
        assert encoding.benchmark_hash(listed, listed_ops) == encoding.benchmark_hash(link, ops)


@pytest.mark.parametrize("ops", ["all", "proteins"])
def test_index_is_a_bijection(ops):
    space = GnnSpace(GnnConfig(ops=ops))
    n = space.size()
    assert n == len(space.ops) ** 4 * 9
    texts = set()
    for index in range(0, n, 7):
        g = space.decode(index)
        assert space.encode(g) == index and space.from_ops(space.to_ops(g)) == g
        texts.add(g.text)
    assert len(texts) == len(range(0, n, 7))
    with pytest.raises(IndexError):
        space.decode(n)


def test_proteins_space_refuses_ops_it_does_not_have():
    space = GnnSpace(GnnConfig(ops="proteins"))
    assert space.ops == ("gcn", "sage", "arma", "fc", "skip")
    with pytest.raises(ValueError, match="unknown op"):
        space.parse("link=[0,0,1,2] ops=[gcn,gat,sage,fc]")
