"""Worker of tests/test_distributed.py: k search iterations of a recipe, in one process or as one
rank of a torchrun launch (gloo); saves the architecture parameters, the supernet's state and
the genotype.

    python tests/ddp_worker.py OUT K RECIPE EPOCH [OVERRIDE ...]           # one process, whole batches
    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py OUT K RECIPE EPOCH ...

RECIPE is ``toy`` (the toy space's recipe below, its conv op with batch norm), ``toy-no-bn``
(the same without batch norm: the data-parallel equality with no batch statistics involved) or
a shipped recipe's file name (its size and data given as overrides). The search is entered at
EPOCH and takes the iterations as the engine's loop does
(:func:`automl_nas.testing.engine_steps_state`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import automl_nas_toy.space as toy
from automl_nas.engine.distributed import World, join_from_environment, leave
from automl_nas.testing import build_search, engine_steps_state

REPO = Path(__file__).resolve().parents[1]
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


def _count_folded_batch_norms() -> list[int]:
    """A counter of the batch-norm calls that take the folded kernel from now on."""
    import automl_nas.nn.folded_batch_norm as folded

    count, fold_factor = [0], folded.fold_factor

    def counting(x):
        k = fold_factor(x)
        count[0] += k > 0
        return k

    folded.fold_factor = counting
    return count


def main(out: Path, iterations: int, recipe_name: str, epoch: int, overrides: list[str]) -> None:
    join_from_environment("cpu")
    world = World.current()
    tag = f"rank{world.rank}" if world.size > 1 else "single"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    overrides = ["run.device='cpu'", "run.threads=1", *overrides]
    if recipe_name.startswith("toy"):
        if recipe_name == "toy-no-bn":
            toy.make_op = _make_op_without_bn
        recipe = out / f"recipe-{tag}.toml"
        recipe.write_text(RECIPE)
    else:
        recipe = REPO / "recipes" / recipe_name
    search = build_search(recipe, root=out / "runs", name=tag, overrides=overrides, epoch=epoch)
    assert search.world == world
    folded = _count_folded_batch_norms()
    state = engine_steps_state(search, iterations)
    torch.save({"arch": {k[5:]: v for k, v in state.items() if k.startswith("arch.")},
                "net": {k[4:]: v for k, v in state.items() if k.startswith("net.")},
                "genotype": search.derive().text, "world": world.size, "folded_batch_norms": folded[0]},
               out / f"{tag}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:])
    leave()
