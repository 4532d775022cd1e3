"""Contract suites run on the outside plugin's components (first-party plugins run them in their own tests)."""

from __future__ import annotations

import pytest

from automl_nas.testing.contracts import EvaluatorContract, SamplerContract, SearchSpaceContract


class TestToySpace(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        from automl_nas_toy.hooks import ToySpaceConfig
        from automl_nas_toy.space import ToySpace

        return ToySpace(ToySpaceConfig())


class TestToySampler(SamplerContract):
    @pytest.fixture
    def sampler(self):
        from automl_nas_toy.space import SoftmaxSampler

        return SoftmaxSampler()


class TestToyEvaluator(EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        from automl_nas_toy.space import CountConvs

        return CountConvs()

    @pytest.fixture
    def genotype(self):
        from automl_nas.api import Genotype

        return Genotype("toy", "toy:conv_3x3,none,conv_3x3")

    @pytest.fixture
    def eval_context(self):
        from automl_nas.api import EvalContext

        return EvalContext(space=None)


@pytest.mark.parametrize("name", ["nb201", "darts", "toy"])
def test_registered_spaces_pass_the_contract(name, registry):
    """Every registered search space builds with default-ish options and round-trips."""
    if name not in registry.names("search_space"):
        pytest.fail(f"search space {name!r} is not registered: {registry.names('search_space')}")
    comp = registry.get("search_space", name)
    small = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"channels": 4, "layers": 3}, "toy": {}}[name]
    space = registry.create("search_space", name, comp.config(**small))
    import torch

    params = {g.name: torch.randn(g.shape) for g in space.groups()}
    genotype = space.derive(params)
    assert space.parse(genotype.text) == genotype
