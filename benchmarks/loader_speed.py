"""Is the CPU busy with the network or with the data path? Images/s of both, side by side.

Data path: ``automl_nas.data.BatchLoader`` over the real CIFAR-10 images of
``../shared/data/cifar10-5k.npz`` (uint8 in memory -> index -> random crop (pad 4) + flip ->
float -> normalise), as the search uses it (batch 64), and as retraining uses it (batch 256 for
NAS-Bench-201; batch 96 plus cutout 16 for DARTS, ``automl_nas_eval_retrain.augment.cutout``).

Network: one search iteration of the NB201 supernet (C = 16, N = 5, batch 64) through the engine's
own ``Search.weight_step`` + ``Search.arch_step`` (recipes/darts-nb201.toml, DARTS first order:
64 train + 64 arch images), on pre-made batches so no loader time is inside; with
``--retrain`` also one training step of the NB201 benchmark network (C = 16, N = 5, batch 256)
and, with ``--darts``, of the DARTS evaluation network (C = 36, 20 cells, auxiliary, batch 96).

Loader and network are measured alternately in one process, ``--rounds`` times; medians are
printed (the machine may be shared). The last line says what share of a search iteration the
loader would add if it ran in the same thread.

Usage:
    python benchmarks/loader_speed.py [--threads 1] [--rounds 3] [--retrain] [--darts] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "cifar10-5k.npz"
LOADERS = (  # label, batch size, cutout length
    ("search: crop+flip+normalise", 64, 0),
    ("retrain NB201: crop+flip+normalise", 256, 0),
    ("retrain DARTS: crop+flip+normalise+cutout16", 96, 16),
)


def load_data(path: Path):
    from automl_nas.session import open_session
    from automl_nas_data_vision.config import NpzConfig

    registry = open_session().registry
    return registry.create("dataset", "npz", NpzConfig(path=str(path))).load()


def loader_rate(data, batch: int, cutout_len: int, device: str, epoch: int) -> float:
    """Images/s of one pass over the data set through the loader (and cutout)."""
    from automl_nas.data import BatchLoader
    from automl_nas_eval_retrain.augment import cutout

    loader = BatchLoader(data, torch.arange(len(data.train_y)), batch_size=batch, seed=0, device=device)
    seen = 0
    started = time.perf_counter()
    for b, (x, y) in enumerate(loader.epoch(epoch)):
        if cutout_len:
            x = cutout(x, cutout_len, torch.Generator().manual_seed(epoch * 10_007 + b))
        seen += len(y)
    _sync(device)
    return seen / (time.perf_counter() - started)


def search_stepper(data_path: Path, device: str, workdir: Path):
    """A callable running one engine search iteration (weight + arch step) on pre-made batches."""
    from automl_nas.engine.run import Search
    from automl_nas.records.rundir import RunDir
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    registry = open_session().registry
    overrides = [f'data={{name="npz", path="{data_path}", batch_size=64}}', f"run.device={device!r}",
                 f"run.root={str(workdir)!r}", 'evaluator={name="naswot"}']
    plan = plan_recipe(REPO / "recipes" / "darts-nb201.toml", registry, overrides=overrides)
    search = Search(plan, registry, RunDir.create(workdir, "bench"), device=device, quiet=True)
    search.run.supernet.train()
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    batches = [(next(train), next(arch)) for _ in range(4)]
    state = {"i": 0}

    def step() -> int:
        (x, y), (xv, yv) = batches[state["i"] % len(batches)]
        state["i"] += 1
        search.weight_step(x, y)
        search.arch_step(xv, yv, x, y)
        return len(y) + len(yv)

    return step


def retrain_stepper(space_name: str, batch: int, device: str):
    """A callable running one training step of the space's paper-size standalone network."""
    from torch import nn

    from automl_nas.api import InputSpec
    from automl_nas.session import open_session
    from automl_nas_eval_retrain.trainer import objective

    registry = open_session().registry
    space = registry.create("search_space", space_name)
    if space_name == "nb201":
        genotype = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        aux = 0.0
    else:
        from automl_nas_space_darts.published import PUBLISHED

        genotype, aux = space.parse(PUBLISHED["DARTS_V2"]), 0.4
    net = space.build_network(genotype, InputSpec()).to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32, device=device), torch.randint(0, 10, (batch,), device=device)
    criterion = nn.CrossEntropyLoss()

    def step() -> int:
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(net(x), y, criterion, aux)
        loss.backward()
        opt.step()
        return batch

    return step


def step_rate(step, steps: int, device: str) -> float:
    step()  # warm-up
    _sync(device)
    images, started = 0, time.perf_counter()
    for _ in range(steps):
        images += step()
    _sync(device)
    return images / (time.perf_counter() - started)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds (medians printed)")
    parser.add_argument("--steps", type=int, default=3, help="network steps per round")
    parser.add_argument("--retrain", action="store_true", help="also time a retraining step of the NB201 benchmark net")
    parser.add_argument("--darts", action="store_true", help="also time a retraining step of the DARTS evaluation net")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_data(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        nets = {"NB201 supernet search iteration (C16 N5, 64 train + 64 arch)": search_stepper(args.data, args.device, Path(tmp))}
        if args.retrain:
            nets["NB201 benchmark net training step (C16 N5, batch 256)"] = retrain_stepper("nb201", 256, args.device)
        if args.darts:
            nets["DARTS evaluation net training step (C36 L20 aux, batch 96)"] = retrain_stepper("darts", 96, args.device)
        rates: dict[str, list[float]] = {label: [] for label, _, _ in LOADERS} | {label: [] for label in nets}
        for r in range(args.rounds):  # alternate, so a neighbour's load hits both sides alike
            for label, batch, cut in LOADERS:
                rates[label].append(loader_rate(data, batch, cut, args.device, epoch=r))
            for label, step in nets.items():
                rates[label].append(step_rate(step, args.steps, args.device))
    _report(rates, nets, data, args)


def _report(rates: dict[str, list[float]], nets: dict, data, args) -> None:
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"data: {args.data} ({len(data.train_y)} images {tuple(data.shape)}), device {args.device}, "
          f"{args.threads} thread(s), torch {torch.__version__}, median of {args.rounds} rounds")
    print(f"{'path':<73} {'images/s':>10}   min - max")
    for label, _, _ in LOADERS:
        print(f"  loader   {label:<62} {med[label]:>10,.0f}   {min(rates[label]):,.0f} - {max(rates[label]):,.0f}")
    for label in nets:
        print(f"  network  {label:<62} {med[label]:>10,.1f}   {min(rates[label]):,.1f} - {max(rates[label]):,.1f}")
    search = next(iter(nets))
    share = med[search] / (med[search] + med[LOADERS[0][0]])
    busy = "the network" if share < 0.05 else "the data path too: a background loader would pay off"
    print(f"verdict: run in the same thread, loading would be {100 * share:.2f}% of a search iteration's time "
          f"(the loader is {med[LOADERS[0][0]] / med[search]:,.0f}x faster than the network): the CPU is busy with {busy}")


if __name__ == "__main__":
    main()
