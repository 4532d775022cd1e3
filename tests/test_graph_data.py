"""The graph data seam (issue 17): GraphSet splits, the full-batch GraphLoader, graph-aware standalone helpers."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import GraphBatch, GraphSet, InputSpec
from automl_nas.data import GraphLoader, graph_search_split
from automl_nas.errors import DataError


def _graph(n: int = 20) -> GraphSet:
    ring = torch.arange(n)
    return GraphSet(name="ring", x=torch.randn(n, 5), edge_index=torch.stack([ring, (ring + 1) % n]),
                    y=ring % 2, train_idx=ring[:10], valid_idx=ring[10:15], test_idx=ring[15:], num_classes=2)


def test_search_split_of_a_graph():
    data = _graph()
    train, valid = graph_search_split(data, mode="dataset", train_fraction=0.5, seed=0)
    assert train.tolist() == list(range(10)) and valid.tolist() == list(range(10, 15))
    train, valid = graph_search_split(data, mode="halves", train_fraction=0.6, seed=0)
    assert train.tolist() == list(range(6)) and valid.tolist() == list(range(6, 10))
    train, valid = graph_search_split(data, mode="random", train_fraction=0.5, seed=3)
    assert sorted(train.tolist() + valid.tolist()) == list(range(10)) and train.tolist() != list(range(5))
    with pytest.raises(DataError, match="10 training nodes: too few"):
        graph_search_split(data, mode="halves", train_fraction=0.01, seed=0)


def test_graph_loader_is_one_full_batch_per_epoch():
    data = _graph()
    loader = GraphLoader(data, data.valid_idx)
    batches = list(loader.epoch(3))
    assert len(loader) == 1 and len(batches) == 1
    graph, y = batches[0]
    assert isinstance(graph, GraphBatch) and graph.num_nodes == 20 and graph.index.tolist() == list(range(10, 15))
    assert torch.equal(y, data.y[10:15])
    cycle = loader.cycle(0)
    assert next(cycle)[0] is next(cycle)[0]  # no copies per step
    with pytest.raises(DataError, match="empty"):
        GraphLoader(data, torch.tensor([], dtype=torch.long))


def test_graphset_batches_and_standalone_input_spec():
    from automl_nas.standalone.evaluate import input_spec

    data = _graph()
    graph, y = data.batch("test")
    assert graph.index.tolist() == list(range(15, 20)) and y.tolist() == (torch.arange(15, 20) % 2).tolist()
    assert input_spec(data) == InputSpec(channels=5, height=1, width=1, num_classes=2)


def test_a_graph_search_refuses_data_limit(tmp_path):
    from automl_nas.errors import RecipeError
    from automl_nas.testing import run_recipe

    recipe = """
name = "g"
[space]
name = "gnn"
hidden = 8
[data]
name = "sbm"
nodes = 60
split = "dataset"
limit = 100
[search]
epochs = 1
sampler = { name = "darts" }
"""
    with pytest.raises(RecipeError, match="data.limit = 100: data set 'sbm' is a graph"):
        run_recipe(tmp_path, recipe)
