"""Worker of tests/test_distributed.py: k search iterations of the toy recipe, in one process or as
one rank of a torchrun launch (gloo); saves the architecture parameters and the genotype.

    python tests/ddp_worker.py OUT K                                   # one process, whole batches
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py OUT K

The toy space's conv op is used without its BatchNorm here: BN normalises each rank's slice of
the batch, and the check is the exact data-parallel equality (automl_nas.engine.distributed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import automl_nas_toy.space as toy
from automl_nas.engine.distributed import World, join_from_environment, leave
from automl_nas.testing import build_search

RECIPE = """
name = "toy-ddp"
seed = 3
[space]
name = "toy"
channels = 6
[data]
name = "toy-blobs"
batch_size = 16
count = 128
[search]
epochs = 1
[search.sampler]
name = "toy-softmax"
[search.arch_optimizer]
name = "adam"
lr = 0.05
"""

_make_op = toy.make_op


def _make_op_without_bn(name: str, c: int) -> nn.Module:
    if name == "conv_3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False))
    return _make_op(name, c)


def main(out: Path, iterations: int) -> None:
    toy.make_op = _make_op_without_bn
    join_from_environment("cpu")
    world = World.current()
    tag = f"rank{world.rank}" if world.size > 1 else "single"
    out.mkdir(parents=True, exist_ok=True)
    recipe = out / f"recipe-{tag}.toml"
    recipe.write_text(RECIPE)
    torch.set_num_threads(1)
    search = build_search(recipe, root=out / "runs", name=tag, overrides=["run.device='cpu'", "run.threads=1"])
    assert search.world == world
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    for _ in range(iterations):
        (x, y), (xv, yv) = next(train), next(arch)
        search.arch_step(xv, yv, x, y)
        search.weight_step(x, y)
    torch.save({"arch": {k: v.detach() for k, v in search.run.params.items()},
                "net": search.run.supernet.state_dict(), "genotype": search.derive().text,
                "world": world.size}, out / f"{tag}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
    leave()
