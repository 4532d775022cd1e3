"""DrNAS progressive learning: partial channels, widening, stage schedule (§10.6, items 6-8)."""

from __future__ import annotations

import torch
from torch import nn

from automl_nas.api import EdgeWeights, RunContext
from automl_nas.nn import MixedOp, PartialMixedOp, channel_shuffle

from automl_nas_drnas.config import DrnasConfig
from automl_nas_drnas.sampler import DrnasSampler
from automl_nas_drnas.widen import rebuild_sgd, widen_partial_ops


class Zero(nn.Module):
    is_zero = True

    def forward(self, x):
        return x * 0


def rcb(c: int, k: int = 3) -> nn.Module:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c, affine=False))


def sep(c: int, stride: int = 1) -> nn.Module:
    """DARTS-style depthwise-separable block (affine BN to exercise parameter copies)."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=True))


class FactorizedReduce(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c, c // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(c, c // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c, affine=False)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Net(nn.Module):
    def __init__(self, c: int = 16, k: int = 4, edges: int = 1) -> None:
        super().__init__()
        self.edges = nn.ModuleList(PartialMixedOp(MixedOp([rcb(c // k), sep(c // k)]), k) for _ in range(edges))
        self.head = nn.Linear(c, 3)

    def forward(self, x, w):
        for e, edge in enumerate(self.edges):
            x = edge(x, w, e)
        return self.head(x.mean((2, 3)))


def _fake_run(net: nn.Module, epoch: int = 50, params=None, lr: float = 0.01) -> RunContext:
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4, nesterov=True)
    logs: list[str] = []
    run = RunContext(recipe=None, run_dir=None, device="cpu", supernet=net, params=params or {}, weight_optimizer=opt,
                     epoch=epoch, num_epochs=100, generator=torch.Generator().manual_seed(0), log=logs.append)
    return run, logs


def _step(run, x, w) -> None:
    run.weight_optimizer.zero_grad()
    run.supernet(x, w).sum().backward()
    run.weight_optimizer.step()


def test_partial_channels_shape_bypass_and_shuffle():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    w = EdgeWeights(weights=torch.tensor([[0.3, 0.7]], dtype=torch.float64))
    plain = MixedOp([rcb(16), sep(16)]).double()
    pc1 = PartialMixedOp(plain, 1)
    torch.testing.assert_close(pc1(x, w, 0), plain(x, w, 0), rtol=0, atol=0)
    k = 4
    pc = PartialMixedOp(MixedOp([rcb(4), sep(4)]).double(), k)
    out = pc(x, w, 0)
    assert out.shape == x.shape
    part = 16 // k
    for g in range(1, k):  # bypass channels g * (C/K) + r reappear at r * K + g unchanged
        for r in range(part):
            torch.testing.assert_close(out[:, r * k + g], x[:, g * part + r], rtol=0, atol=0)
    shuffled = channel_shuffle(x, k)
    assert sorted(int(i) for i in channel_shuffle(torch.arange(16.).view(1, 16, 1, 1), k).flatten()) == list(range(16))
    torch.testing.assert_close(channel_shuffle(shuffled, 16 // k), x, rtol=0, atol=0)


def test_widening_from_k4_to_k2():
    torch.manual_seed(1)
    net = Net()
    x = torch.randn(2, 16, 8, 8)
    w = EdgeWeights(weights=torch.tensor([[0.4, 0.6]]))
    run, _ = _fake_run(net)
    _step(run, x, w)  # creates momentum buffers and BN statistics
    conv_old = net.edges[0].mixed.ops[0][1].weight.detach().clone()
    pw_old = net.edges[0].mixed.ops[1][2]
    buf_old = run.weight_optimizer.state[pw_old.weight]["momentum_buffer"].clone()
    head_buf = run.weight_optimizer.state[net.head.weight]["momentum_buffer"]
    bn_old_mean = net.edges[0].mixed.ops[0][2].running_mean.clone()

    changed, remap, widths = widen_partial_ops(net, 2, run.generator)
    run.replace_weight_optimizer(rebuild_sgd(run.weight_optimizer, net.parameters(), remap))
    assert changed == 1 and widths == "4->8" and net.edges[0].k == 2
    ops = net.edges[0].mixed.ops
    convs = [m for m in ops.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in ops.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 3 and len(bns) == 2
    for conv in convs:
        assert conv.in_channels == 8 and conv.out_channels == 8
    assert ops[1][1].groups == 8 and ops[1][1].weight.shape == (8, 1, 3, 3)
    for bn in bns:
        assert bn.num_features == 8
    assert ops[0][2].running_mean.shape == (8,) and ops[0][2].running_var.shape == (8,)
    torch.testing.assert_close(ops[0][2].running_mean[:4], bn_old_mean, rtol=0, atol=0)
    torch.testing.assert_close(ops[0][1].weight[:4, :4], conv_old, rtol=0, atol=0)
    new_idx = remap[ops[0][1].weight][1][0][1]
    torch.testing.assert_close(ops[0][2].running_mean[4:], bn_old_mean[new_idx[4:]], rtol=0, atol=0)
    # Optimiser: same hyper-parameters, every parameter of the net, buffers with matching shapes.
    opt = run.weight_optimizer
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"], group["nesterov"]) == (0.01, 0.9, 3e-4, True)
    assert {id(p) for p in group["params"]} == {id(p) for p in net.parameters()}
    for p in net.parameters():
        assert opt.state[p]["momentum_buffer"].shape == p.shape
    assert opt.state[net.head.weight]["momentum_buffer"] is head_buf
    torch.testing.assert_close(opt.state[ops[1][2].weight]["momentum_buffer"][:4, :4], buf_old, rtol=0, atol=0)
    # The forward runs and the optimiser steps.
    assert net(x, w).shape == (2, 3)
    _step(run, x, w)


def test_widening_a_factorized_reduce_edge():
    torch.manual_seed(2)
    pmo = PartialMixedOp(MixedOp([FactorizedReduce(4), sep(4, stride=2)]), k=4, stride=2)
    net = nn.ModuleList([pmo])
    changed, remap, _ = widen_partial_ops(net, 2, torch.Generator().manual_seed(0))
    fr = pmo.mixed.ops[0]
    assert (fr.conv_1.in_channels, fr.conv_1.out_channels, fr.bn.num_features) == (8, 4, 8)
    out = pmo(torch.randn(2, 16, 8, 8), EdgeWeights(weights=torch.tensor([[0.5, 0.5]])), 0)
    assert out.shape == (2, 16, 4, 4)


def test_progressive_schedule_prunes_and_widens_at_the_stage_boundary():
    torch.manual_seed(3)
    five = lambda c: MixedOp([Zero(), nn.Identity(), rcb(c, 1), rcb(c, 3), nn.AvgPool2d(3, 1, 1, count_include_pad=False)])
    net = nn.Module()
    net.edges = nn.ModuleList(PartialMixedOp(five(2), 4) for _ in range(2))
    net.forward = lambda x, s: net.edges[1](net.edges[0](x, s["cell"], 0), s["cell"], 1)
    eta = nn.Parameter(torch.tensor([[0.1, 0.5, -0.2, 0.3, 0.0], [0.0, 0.1, 0.2, 0.3, 0.4]]))
    sampler = DrnasSampler(DrnasConfig(stage_epochs=[50, 50], partial_channels=[4, 2], keep_ops=[5, 3]))
    run, logs = _fake_run(net, epoch=0, params={"cell": eta}, lr=0.0123)
    x = torch.randn(2, 8, 4, 4)
    updates, optimisers = [], []
    for epoch in range(100):
        run._enter_epoch(epoch)
        sampler.set_epoch(epoch, 100)
        sampler.epoch_start(run)
        updates.append(sampler.updates_arch(epoch))
        optimisers.append(run.weight_optimizer)
        if epoch in (0, 49, 50, 99):
            _step(run, x, sampler.sample({"cell": eta}, phase="weights"))
    assert updates == [e % 50 >= 10 for e in range(100)]
    assert len({id(o) for o in optimisers[:50]}) == 1 and len({id(o) for o in optimisers[50:]}) == 1
    assert optimisers[49] is not optimisers[50]
    assert optimisers[50].param_groups[0]["lr"] == 0.0123
    assert [e.k for e in net.edges] == [2, 2]
    assert sampler.masks["cell"].sum(-1).tolist() == [3, 3]
    assert sampler.masks["cell"][0].tolist() == [True, True, False, True, False]
    assert len(logs) == 2 and "pruned to 3" in logs[0] and "2->4" in logs[1]
    # counted from 1, as the progress lines ("epoch 51/100") and the config's errors ("stage 2 of 2") count
    assert logs[0].startswith("drnas: stage 2 from epoch 51: pruned to 3 ops per edge"), logs[0]
    assert sampler.status() == {"stage": 1.0, "ops_kept": 3.0}

    # Resume: a fresh sampler and supernet come back to the saved stage before weights are loaded.
    fresh_net = nn.Module()
    fresh_net.edges = nn.ModuleList(PartialMixedOp(five(2), 4) for _ in range(2))
    resumed = DrnasSampler(sampler.config)
    resumed.load_state_dict(sampler.state_dict())
    fresh_run, fresh_logs = _fake_run(fresh_net, epoch=60, params={"cell": eta})
    resumed.restore(fresh_run)
    fresh_net.load_state_dict(net.state_dict())
    fresh_run.weight_optimizer.load_state_dict(run.weight_optimizer.state_dict())
    assert torch.equal(resumed.masks["cell"], sampler.masks["cell"]) and resumed.stage == 1
    resumed.epoch_start(fresh_run)  # same stage: nothing more happens
    assert len(fresh_logs) == 1


def test_plain_mode_never_freezes_or_changes_structure():
    sampler = DrnasSampler()
    net = Net(edges=1)
    run, _ = _fake_run(net, epoch=0)
    opt = run.weight_optimizer
    for epoch in range(20):
        run._enter_epoch(epoch)
        sampler.epoch_start(run)
        assert sampler.updates_arch(epoch)
    assert run.weight_optimizer is opt and net.edges[0].k == 4 and not sampler.masks


def test_stage_partial_channels_that_the_supernet_cannot_take_are_refused_at_plan_time():
    """Each case either stopped with an internal ValueError at its first stage change or, with a
    supernet without partial channels, ran without them; `automl validate` now names the keys."""
    from pathlib import Path

    import pytest
    from automl_nas.errors import RecipeError
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "drnas-progressive.toml"
    registry = open_session().registry

    def plan(*overrides: str):
        return plan_recipe(recipe, registry, profile="quick", overrides=overrides)

    for overrides, message in [
        (("space.partial_channels=1",), "built without partial channels (space.partial_channels = 1)"),
        (("space.partial_channels=2",), "from the supernet's space.partial_channels to stage 1 (ops widen, they "
                                        "never narrow), got 2 -> 4: set space.partial_channels = 4"),
        (("search.sampler.partial_channels=[4, 8]",), "from stage 1 to stage 2 (ops widen, they never narrow), got 4 -> 8"),
        (("search.sampler.partial_channels=[4, 3]",), "K = 3 does not divide space.channels = 8"),
        (("space={name=\"gnn\"}", "data={name=\"sbm\"}"), "'gnn' has none: remove search.sampler.partial_channels"),
    ]:
        with pytest.raises(RecipeError, match="search.sampler: partial_channels") as err:
            plan(*overrides)
        assert message in str(err.value), (overrides, str(err.value))
    plan("space.partial_channels=8")  # stage 1 widens 8 -> 4: allowed
    plan("space.partial_channels=1", "search.sampler.partial_channels=[]", "search.sampler.stage_epochs=[]",
         "search.sampler.keep_ops=[]")  # plain DrNAS asks for nothing
    with pytest.raises(RecipeError, match=r"keep_ops must not rise from stage to stage \(pruned ops stay pruned\)"):
        plan("search.sampler.keep_ops=[3, 5]")


def test_a_search_shorter_than_the_stages_or_a_warmup_as_long_as_a_stage_is_refused_at_plan_time():
    """`search.epochs = 3` under `stage_epochs = [2, 2]` validated and ran, cutting the last stage
    short; the sampler config could not see `search.epochs`. The EpochsCheck seam passes it."""
    from pathlib import Path

    import pytest
    from automl_nas.errors import RecipeError
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "drnas-progressive.toml"
    registry = open_session().registry

    def plan(*overrides: str):
        return plan_recipe(recipe, registry, profile="quick", overrides=overrides)

    with pytest.raises(RecipeError, match=r"stage_epochs = \[2, 2\] plans 4 epochs, but search.epochs = 3, so the "
                                          r"search would stop inside stage 2 of 2: set search.epochs = 4"):
        plan("search.epochs=3")
    with pytest.raises(RecipeError, match=r"inside stage 1 of 3"):
        plan("search.epochs=2", "search.sampler.stage_epochs=[3, 2, 2]", "search.sampler.partial_channels=[]",
             "search.sampler.keep_ops=[]")
    with pytest.raises(RecipeError, match=r"warmup_epochs = 2 freezes the architecture for a whole stage .* below 2"):
        plan("search.sampler.warmup_epochs=2")
    plan("search.epochs=6")  # epochs past the plan stay in the last stage
    plan("search.epochs=1", "search.sampler.stage_epochs=[]", "search.sampler.partial_channels=[]",
         "search.sampler.keep_ops=[]")  # plain DrNAS has no stages to cut
