"""The ``gnn-train`` evaluator: seeded by the run, and leaves the caller's generators alone."""

from __future__ import annotations

import torch

from automl_nas.api import EvalContext
from automl_nas_space_gnn.config import GnnConfig, GnnTrainConfig
from automl_nas_space_gnn.space import GnnSpace
from automl_nas_space_gnn.train import GnnTrain


def test_scores_repeat_and_the_caller_s_generator_goes_on_as_if_nothing_ran():
    from automl_nas_data_graph.config import SbmConfig
    from automl_nas_data_graph.sbm import Sbm

    space = GnnSpace(GnnConfig(hidden=8))  # dropout on: the evaluator's own draws
    genotype = space.derive({g.name: torch.randn(g.shape, generator=torch.Generator().manual_seed(0))
                             for g in space.groups()})
    ctx = EvalContext(space=space, data=Sbm(SbmConfig(nodes=80)).load(), seed=3, log=lambda msg: None)
    evaluator = GnnTrain(GnnTrainConfig(epochs=3))
    torch.manual_seed(11)
    expected = torch.rand(4)
    torch.manual_seed(11)
    first = evaluator.evaluate(genotype, ctx)
    assert torch.equal(torch.rand(4), expected)  # the caller's next draws are unchanged
    second = evaluator.evaluate(genotype, ctx)
    assert {k: v for k, v in first.items() if k != "train_time_s"} == {k: v for k, v in second.items() if k != "train_time_s"}


def test_a_graph_without_test_nodes_or_a_data_set_of_images_is_refused_by_check():
    import attrs
    import pytest

    from automl_nas.errors import DataError
    from automl_nas_data_graph.config import SbmConfig
    from automl_nas_data_graph.sbm import Sbm

    graph = Sbm(SbmConfig(nodes=80)).load()
    no_test = attrs.evolve(graph, test_idx=graph.test_idx[:0])
    evaluator = GnnTrain(GnnTrainConfig(epochs=1))
    space = GnnSpace(GnnConfig(hidden=8))
    evaluator.check(space, graph)
    with pytest.raises(DataError, match="has none"):
        evaluator.check(space, no_test)
    with pytest.raises(DataError, match="no data set was given"):
        evaluator.check(space, None)
