"""The engine's steps give the same weights and architecture with ``run.fast_paths`` on and off (issue 8).

Each shipped NB201 recipe (tiny supernet, 8x8 digits) takes two weight + architecture steps
from the same initialisation and the same sampler noise on both paths; DrNAS progressive is
taken into its second stage first (pruned ops, widened partial channels, rebuilt SGD).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from automl_nas.engine.run import Search
from automl_nas.testing import build_search, engine_steps_state

REPO = Path(__file__).resolve().parents[1]
TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "space.channels=8", "space.cells_per_stage=1",
        "run.device='cpu'", "run.threads=1"]


def build(tmp_path: Path, recipe: str, fast: bool, extra=(), epoch: int = 0) -> Search:
    return build_search(REPO / "recipes" / recipe, root=tmp_path, name=f"{recipe}-{fast}", epoch=epoch,
                        overrides=[*TINY, f"run.fast_paths={str(fast).lower()}", *extra])


@pytest.mark.parametrize("recipe, extra, epoch", [
    ("darts-nb201.toml", (), 0),
    ("gdas.toml", (), 0),
    ("snas.toml", (), 0),
    ("drnas.toml", (), 0),
    # Arch SGD here: pruned ops' eta get float-noise gradients (~1e-9, exactly 0 in exact maths)
    # that Adam would scale up to lr-sized steps, and eta feeds the Gamma rejection sampler.
    ("drnas-progressive.toml", ("search.sampler.stage_epochs=[2, 2]", "search.sampler.warmup_epochs=0",
                                "search.arch_optimizer={name='sgd', lr=3e-4}"), 2),
], ids=["darts", "gdas", "snas", "drnas", "drnas-progressive-stage2"])
def test_fast_and_plain_steps_agree(tmp_path, recipe, extra, epoch):
    plain = engine_steps_state(build(tmp_path, recipe, False, extra, epoch))
    fast_search = build(tmp_path, recipe, True, extra, epoch)
    assert fast_search.run.supernet.cells[0].fast_paths and fast_search.run.supernet.fast_paths
    fast = engine_steps_state(fast_search)
    assert plain.keys() == fast.keys()
    for key, value in plain.items():
        torch.testing.assert_close(fast[key], value, rtol=1e-4, atol=2e-5, msg=key)
    if "progressive" in recipe:  # the second stage really ran: widened to K_pc = 2, 3 ops kept
        assert fast_search.run.supernet.cells[0].edges[0].k == 2
        assert int(fast_search.sampler.masks["cell"].sum(-1).max()) == 3


def test_bf16_autocast_runs_the_fast_path_on_cpu(tmp_path):
    """``run.bf16`` (meant for GPUs) autocasts the forward; the losses stay fp32 and close to fp32's."""
    fp32 = build(tmp_path, "darts-nb201.toml", True)
    bf16 = build(tmp_path, "darts-nb201.toml", True, ("run.bf16=true",))
    x, y = next(fp32.train_loader.cycle(0))
    loss32, logits32, _ = fp32.loss("arch", x, y)
    loss16, logits16, _ = bf16.loss("arch", x, y)
    assert logits16.dtype == torch.float32 and loss16.dtype == torch.float32
    torch.testing.assert_close(loss16, loss32, rtol=0.05, atol=0.05)
    assert not torch.equal(logits16, logits32)  # the convolutions really ran in bf16
    bf16.arch_step(x, y, x, y)
    bf16.weight_step(x, y)
    assert all(torch.isfinite(p).all() for p in bf16.run.supernet.parameters())


def test_grouped_relu_conv_bn_mixes_same_convolutions_exactly():
    from torch import nn

    from automl_nas.nn import relu_conv_bn_group

    torch.manual_seed(0)

    def block(k, stride=1):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, k, stride, k // 2, bias=False),
                             nn.BatchNorm2d(4, affine=False)).double()

    blocks = [block(3), block(1), block(3)]
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    for got, want in zip(relu_conv_bn_group(x, blocks), [b(x) for b in blocks]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="'same' convolutions"):
        relu_conv_bn_group(x, [block(3, stride=2), block(1, stride=2)])


def test_compile_mode_reaches_torch_compile(tmp_path, monkeypatch):
    """``run.compile_mode`` is the mode the supernet is compiled with (reduce-overhead: CUDA graphs)."""
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append((model, kw)) or model)
    search = build(tmp_path, "drnas.toml", True, ("run.compile=true", "run.compile_mode='reduce-overhead'"))
    assert calls == [(search.run.supernet, {"mode": "reduce-overhead"})]
    build(tmp_path, "drnas.toml", True, ("run.compile=true",))
    assert calls[-1][1] == {"mode": "default"}
    build(tmp_path, "drnas.toml", True)
    assert len(calls) == 2  # run.compile off: never compiled
