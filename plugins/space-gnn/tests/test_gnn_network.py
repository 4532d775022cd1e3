"""GNN supernet and standalone network: contract, shapes, gradients, sample semantics."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import EdgeWeights, InputSpec
from automl_nas.testing.contracts import SearchSpaceContract
from automl_nas_space_gnn.config import GnnConfig
from automl_nas_space_gnn.encoding import LINKS
from automl_nas_space_gnn.ops import GnnOp
from automl_nas_space_gnn.space import GnnSpace

INPUTS = InputSpec(channels=6, height=1, width=1, num_classes=3)


def small(**options) -> GnnSpace:
    return GnnSpace(GnnConfig(hidden=8, **options))


class TestGnnSpaceContract(SearchSpaceContract):
    @pytest.fixture
    def space(self):
        return small()

    @pytest.fixture
    def inputs(self):
        return INPUTS


def _count_op_calls(net) -> dict[str, int]:
    calls: dict[str, int] = {}
    for module in net.modules():
        if isinstance(module, GnnOp):
            module.register_forward_hook(lambda m, i, o: calls.__setitem__(m.name, calls.get(m.name, 0) + 1))
    return calls


def test_soft_sample_runs_16_shared_layers_and_hard_sample_one_path():
    space = small()
    net = space.build_supernet(INPUTS)
    graph = space.example_input(INPUTS, 5, torch.Generator().manual_seed(0))
    calls = _count_op_calls(net)
    soft = {g.name: EdgeWeights(weights=torch.full(g.shape, 1.0 / g.shape[1])) for g in space.groups()}
    net(graph, soft)
    # 1 + 2 + 4 + 9 distinct link prefixes, each a mixed layer over all 9 ops
    assert calls == {op: 16 for op in space.ops}
    calls.clear()
    genotype = space.parse("link=[0,1,1,2] ops=[gcn,sage,fc,gat]")
    *ops, link = space.to_ops(genotype)
    hard = {"layers": EdgeWeights(weights=torch.nn.functional.one_hot(torch.tensor(ops), 9).float(), active=torch.tensor(ops)),
            "link": EdgeWeights(weights=torch.nn.functional.one_hot(torch.tensor([link]), 9).float(), active=torch.tensor([link]))}
    net(graph, hard)
    assert calls == {"gcn": 1, "sage": 1, "fc": 1, "gat": 1}


def test_one_hot_supernet_equals_the_standalone_network():
    space = small()
    torch.manual_seed(0)
    net = space.build_supernet(INPUTS).eval()
    genotype = space.parse("link=[0,0,1,3] ops=[cheb,gin,arma,graph]")
    *ops, link = space.to_ops(genotype)
    child = space.build_network(genotype, INPUTS).eval()
    state = {f"body.{k}": v for k, v in net.body.state_dict().items()}
    for layer, k in enumerate(ops):
        state.update({f"layers.{layer}.{n}": v for n, v in net.layers[layer].ops[k].state_dict().items()})
    state.update({f"head.{n}": v for n, v in net.heads.ops[link].state_dict().items()})
    child.load_state_dict(state)
    weights = {"layers": torch.nn.functional.one_hot(torch.tensor(ops), 9).float(),
               "link": torch.nn.functional.one_hot(torch.tensor([link]), 9).float()}
    graph = space.example_input(INPUTS, 6, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net(graph, {k: EdgeWeights(weights=w) for k, w in weights.items()}), child(graph))


def test_every_op_and_pattern_gets_a_gradient():
    space = small(dropout=0.0)
    net = space.build_supernet(INPUTS)
    params = {g.name: torch.zeros(g.shape, requires_grad=True) for g in space.groups()}
    graph = space.example_input(INPUTS, 8, torch.Generator().manual_seed(2))
    out = net(graph, {k: EdgeWeights(weights=torch.softmax(v, -1)) for k, v in params.items()})
    torch.nn.functional.cross_entropy(out, torch.arange(8) % 3).backward()
    assert (params["link"].grad.abs() > 0).all()
    # skip has no weights but its alpha still moves; every op with weights trains
    assert (params["layers"].grad.abs().sum(0) > 0).all()
    arma = space.ops.index("arma")
    for name, p in net.named_parameters():
        # PyG's ARMAConv allocates `weight` for layers 2..T even when T = 1 (as in the benchmark)
        if name.endswith(f"ops.{arma}.conv.weight"):
            continue
        assert p.grad is not None, name


def test_costs_follow_the_network():
    space = small()
    costs = space.op_costs(INPUTS)
    assert costs["layers"]["params"][0, 0, space.ops.index("skip")] == 0
    assert costs["layers"]["params"][0, 0, space.ops.index("cheb")] == 2 * 8 * 8 + 8
    genotype = space.parse("link=[0,1,2,3] ops=[gcn,skip,fc,sage]")
    choices = space.genotype_choices(genotype)
    body = sum(p.numel() for p in space.build_supernet(INPUTS).body.parameters())
    from_table = sum(float((costs[g]["params"][0] * choices[g]).sum()) for g in costs)
    assert space.genotype_costs(genotype, INPUTS)["params"] == from_table + body


def test_link_patterns_are_the_benchmarks():
    space = small()
    link_group = space.groups()[1]
    assert link_group.ops == tuple("".join(map(str, lk)) for lk in LINKS) and len(link_group.ops) == 9
