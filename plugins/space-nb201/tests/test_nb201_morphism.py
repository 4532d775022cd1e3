"""Issue 18: every NB201 morphism preserves the network's function, in train and in eval mode."""

from __future__ import annotations

import random

import pytest
import torch

from automl_nas.api import InputSpec, supports_morphisms
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.encoding import NUM_ARCHS, OPS
from automl_nas_space_nb201.space import Nb201Space

INPUTS = InputSpec(height=8, width=8, num_classes=10)
SPACE = Nb201Space(Nb201Config(channels=4, cells_per_stage=1))


def _trained_like(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random non-trivial BN parameters and running statistics, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return net


def _cases(n: int = 12):
    rng = random.Random(0)
    cases = []
    while len(cases) < n:
        genotype = SPACE.decode(rng.randrange(NUM_ARCHS))
        morphisms = SPACE.morphisms(genotype)
        if morphisms:
            cases.append((genotype, morphisms))
    return cases


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_morphism_preserves_the_function(mode):
    assert supports_morphisms(SPACE)
    kinds = set()
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for i, (genotype, morphisms) in enumerate(_cases()):
        torch.manual_seed(i)
        parent = _trained_like(SPACE.build_network(genotype, INPUTS), i)
        getattr(parent, mode)()
        with torch.no_grad():
            before = parent(x)
        for morphism in morphisms:
            child = SPACE.morph_network(parent, genotype, morphism, INPUTS)
            assert child.training == parent.training and morphism.exact
            assert SPACE.to_ops(SPACE.apply_morphism(genotype, morphism)) == child.genotype_ops
            with torch.no_grad():
                after = child(x)
            torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5, msg=f"{genotype.text} {morphism}")
            kinds.add((morphism.kind, morphism.args[1] if morphism.kind == "conv" else None))
        with torch.no_grad():
            torch.testing.assert_close(parent(x), before)  # the parent is left as it was
    assert kinds == {("conv", "nor_conv_1x1"), ("conv", "nor_conv_3x3"), ("grow", None)}


def test_a_morphism_changes_the_genotype_and_the_child_learns_the_new_edge():
    genotype = SPACE.from_ops((0, 2, 1, 0, 1, 4))  # skip, pool and a 1x1 conv; edges 0 and 3 are `none`
    offered = [str(m) for m in SPACE.morphisms(genotype)]
    assert offered == ["conv(0, nor_conv_1x1)", "conv(0, nor_conv_3x3)", "grow(1)", "conv(3, nor_conv_1x1)",
                       "conv(3, nor_conv_3x3)"]
    morphism = SPACE.morphisms(genotype)[4]  # edge 3<-0: reads the cell input, feeds the cell output
    child_genotype = SPACE.apply_morphism(genotype, morphism)
    assert OPS[SPACE.to_ops(child_genotype)[3]] == "nor_conv_3x3"
    parent = SPACE.build_network(genotype, INPUTS)
    child = SPACE.morph_network(parent, genotype, morphism, INPUTS).train()
    loss = child(torch.randn(4, 3, 8, 8)).logsumexp(1).mean()
    loss.backward()
    bn = child.cells[0].edges[3][2]
    assert bn.weight.grad.abs().sum() > 0  # the zero-scale BN is trainable: the edge can grow in
    with pytest.raises(ValueError, match="is not a morphism"):
        SPACE.apply_morphism(child_genotype, morphism)


def test_edit_distance_counts_differing_edges():
    a, b = SPACE.from_ops((0, 1, 2, 3, 4, 0)), SPACE.from_ops((0, 1, 3, 3, 4, 1))
    assert SPACE.edit_distance(a, a) == 0 and SPACE.edit_distance(a, b) == 2
