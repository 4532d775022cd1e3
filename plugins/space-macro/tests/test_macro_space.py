"""Issue 18: the macro space — genotype text, the one-shot contract, and function preservation of
every morphism on random networks in train and in eval mode."""

from __future__ import annotations

import random

import pytest
import torch

from automl_nas.api import InputSpec, Morphism, supports_morphisms
from automl_nas.testing.contracts import SearchSpaceContract
from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.genotype import MacroGenotype, edit_distance, format_macro, parse_macro
from automl_nas_space_macro.space import MacroSpace

INPUTS = InputSpec(height=8, width=8, num_classes=5)
SPACE = MacroSpace(MacroConfig(channels=4, stages=2, slots=2, max_width=32, max_layers=12))


class TestMacroSpaceContract(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return MacroSpace(MacroConfig(channels=4, stages=2, slots=2))


def test_text_round_trip_and_errors():
    assert parse_macro("macro:c8,r,c8,p,c16;1>2,0>2").skips == ((0, 2), (1, 2))  # sorted
    with pytest.raises(ValueError, match="skip 2>1"):
        parse_macro("macro:c8,r,c8;2>1")
    with pytest.raises(ValueError, match="first layer"):
        parse_macro("macro:p,c8")
    with pytest.raises(ValueError, match="pooling"):
        parse_macro("macro:c8,p,c16;0>2")
    with pytest.raises(ValueError, match="unknown layer"):
        parse_macro("macro:c8,x")
    text = "macro:c8,r,c8,p,c16;0>2"
    assert format_macro(parse_macro(text)) == text


def _random_genotype(rng: random.Random) -> MacroGenotype:
    layers = [f"c{rng.choice((2, 3, 4))}"]
    for _ in range(rng.randrange(2, 7)):
        layers.append(rng.choice(["c2", "c3", "c5", "r", "r", "p"]))
    if layers[-1] == "p":
        layers.append("r")
    g = MacroGenotype(tuple(layers))
    pairs = [(i, j) for i in range(len(layers)) for j in range(i + 1, len(layers))
             if layers[i] != "p" and all(t != "p" for t in layers[i + 1:j + 1])]
    return MacroGenotype(g.layers, tuple(sorted(rng.sample(pairs, min(len(pairs), rng.randrange(3))))))


def _trained_like(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)  # skips and residual BNs non-zero too
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return net


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_morphism_preserves_the_function_on_random_networks(mode):
    assert supports_morphisms(SPACE)
    rng = random.Random(0)
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    kinds, checked = set(), 0
    for n in range(10):
        genotype = SPACE.parse(format_macro(_random_genotype(rng)))
        parent = _trained_like(SPACE.build_network(genotype, INPUTS), n)
        getattr(parent, mode)()
        with torch.no_grad():
            before = parent(x)
        for morphism in SPACE.morphisms(genotype):
            assert morphism.exact
            child = SPACE.morph_network(parent, genotype, morphism, INPUTS)
            assert child.training == parent.training
            assert format_macro(child.genotype) == SPACE.apply_morphism(genotype, morphism).text
            with torch.no_grad():
                torch.testing.assert_close(child(x), before, rtol=1e-4, atol=1e-5, msg=f"{genotype.text} {morphism}")
            kinds.add(morphism.kind)
            checked += 1
        with torch.no_grad():
            torch.testing.assert_close(parent(x), before)  # the parent is untouched
    assert kinds == {"deepen", "widen", "skip"} and checked > 50


def test_a_chain_of_morphisms_preserves_the_function_and_trains():
    rng = random.Random(3)
    genotype = SPACE.parse("macro:c4,c4,p,c8")
    net = _trained_like(SPACE.build_network(genotype, INPUTS), 0).train()
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        before = net(x)
    for _ in range(6):
        morphism = rng.choice(SPACE.morphisms(genotype))
        net, genotype = SPACE.morph_network(net, genotype, morphism, INPUTS), SPACE.apply_morphism(genotype, morphism)
    with torch.no_grad():
        torch.testing.assert_close(net(x), before, rtol=1e-4, atol=1e-5)
    assert SPACE.edit_distance(SPACE.parse("macro:c4,c4,p,c8"), genotype) > 0
    net(x).logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_morphism_limits_and_refusals():
    g = SPACE.parse("macro:c32")
    assert [str(m) for m in SPACE.morphisms(g)] == ["deepen(0)"]  # max_width 32: no widen
    long = SPACE.parse("macro:" + ",".join(["c4"] * 12))
    assert not any(m.kind == "deepen" for m in SPACE.morphisms(long))  # max_layers 12
    with pytest.raises(ValueError, match="is not a morphism"):
        SPACE.apply_morphism(g, Morphism("widen", (0, 64)))


def test_edit_distance_is_auto_keras_layer_and_skip_distance():
    a = parse_macro("macro:c8,c8,p,c16")
    assert edit_distance(a, a) == 0
    assert edit_distance(a, parse_macro("macro:c8,c16,p,c16")) == pytest.approx(0.5)  # |8-16|/16
    assert edit_distance(a, parse_macro("macro:c8,r,c8,p,c16")) == 1  # one insertion
    assert edit_distance(a, parse_macro("macro:c8,c8,p,c16;0>1")) == 1  # one skip
    b = parse_macro("macro:c8,r,c16,p,c16;0>2")
    assert edit_distance(a, b) == edit_distance(b, a)
    # skips are matched one to one (Auto-Keras' linear_sum_assignment): a deepen that moves a skip's
    # end costs the insertion plus the skip's stretch (1 + 1/3), not 1 + 2 for "one skip gone, one new"
    parent, child = parse_macro("macro:c4,c4,c4;0>2"), parse_macro("macro:c4,r,c4,c4;0>3")
    assert edit_distance(parent, child) == pytest.approx(1 + (0 + 1) / (0 + 3))
    other_skip = parse_macro("macro:c4,c4,c4;1>2")  # |0-1| + |2-1| over (1 + 2)
    assert edit_distance(parent, other_skip) == pytest.approx(2 / 3)
    two = parse_macro("macro:c4,c4,c4;0>1,1>2")  # the best pairing, and one skip left over
    assert edit_distance(parent, two) == pytest.approx(min((0 + 1) / (0 + 2), (1 + 1) / (1 + 2)) + 1)


def test_derive_builds_the_stage_layout():
    params = {"layer": torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])}
    assert SPACE.derive(params).text == "macro:c4,c4,p,c8,c8,c8"


def test_pools_the_images_cannot_take_are_a_data_error_before_any_forward():
    """6 stages on 8x8 digits ended in torch's "Output size is too small" from the first forward."""
    from automl_nas.errors import DataError

    small = InputSpec(channels=1, height=8, width=8, num_classes=10)
    with pytest.raises(DataError, match=r"(?s)8x8 are too small for the macro network's 5 2x2 pools .* at most 4"):
        MacroSpace(MacroConfig(channels=4, stages=6)).build_supernet(small)
    space = MacroSpace(MacroConfig(channels=4, stages=4))
    space.build_supernet(small)  # 8 -> 4 -> 2 -> 1: the deepest that fits
    net = space.build_network(space.parse("macro:c4,p,c8,p,c16,p,c32"), small)
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(DataError, match="5 2x2 pools"):
        space.build_network(space.parse("macro:c4,p,c8,p,c16,p,c32,p,c64,p,c128"), small)


def test_morphism_bounds_below_the_starting_network_are_refused():
    with pytest.raises(ValueError, match=r"max_width = 2 is below the widest stage conv \(channels \* 2\^\(stages-1\) = 8\)"):
        MacroConfig(channels=4, stages=2, max_width=2)
    with pytest.raises(ValueError, match=r"max_layers = 2 is below the starting network's 3 layers"):
        MacroConfig(channels=4, stages=2, max_layers=2)
    assert MacroConfig(channels=4, stages=2, max_width=8, max_layers=3).max_layers == 3


def test_a_stage_count_past_what_pooling_allows_is_refused_before_the_width_bound_is_computed():
    """10^11 stages: max_width's check built channels * 2^(stages-1), a number of billions of
    digits, and validate hung (10^5: Python's digit limit, naming no key)."""
    import threading

    refused = []

    def build():
        try:
            MacroConfig(stages=99_999_999_999)
        except ValueError as exc:
            refused.append(str(exc))

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert refused and "'stages' must be <= 16" in refused[0], refused
