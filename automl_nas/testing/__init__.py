"""Public test helpers for plugin authors (and for automl-nas itself).

``run_recipe(tmp_path, toml_text, plugins=[...])`` runs a recipe in-process with
throwaway plugins registered and returns a :class:`RunOutcome`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterable

import attrs


@attrs.define
class RunOutcome:
    result: dict
    metrics: list
    run_dir: Path
    hook_calls: list


def run_recipe(tmp_path: Path, toml_text: str, *, plugins: Iterable[tuple[object, str]] = (), overrides: Iterable[str] = (),
               profile: str | None = None) -> RunOutcome:
    """Write ``toml_text`` to ``tmp_path/recipe.toml`` and run it in-process (quiet) with
    ``plugins`` registered; the outcome carries ``result.json``, the epoch records and the
    names of the hooks called, in order."""
    from automl_nas.records.rundir import RunDir
    from automl_nas.session import open_session

    recipe = Path(tmp_path) / "recipe.toml"
    recipe.write_text(toml_text)
    session = open_session(plugins)
    calls: list = []
    undo = session.pm.add_hookcall_monitoring(lambda name, impls, kwargs: calls.append(name), lambda *a: None)
    try:
        plan = session.plan(recipe, profile=profile, overrides=[f"run.root={str(Path(tmp_path) / 'runs')!r}", *overrides])
        result = session.execute(plan, quiet=True)
    finally:
        undo()
    rd = RunDir(result["run_dir"])
    return RunOutcome(result=result, metrics=rd.read_metrics(), run_dir=rd.path, hook_calls=calls)


def build_search(recipe: str | Path, *, root: str | Path, overrides: Iterable[str] = (), name: str = "search",
                 device: str = "cpu", epoch: int = 0, profile: str | None = None):
    """The engine's :class:`~automl_nas.engine.run.Search` for ``recipe`` (plus ``overrides``),
    entered at ``epoch`` and ready for ``weight_step``/``arch_step`` — for tests and benchmarks
    that drive single steps instead of a whole run. Its run directory is ``root/name``;
    ``profile`` selects one of the recipe's ``[profile.NAME]`` tables."""
    from automl_nas.engine.run import Search
    from automl_nas.records.rundir import RunDir
    from automl_nas.session import open_session

    session = open_session()
    plan = session.plan(recipe, profile=profile, overrides=[f"run.root={str(root)!r}", *overrides])
    search = Search(plan, session.registry, RunDir.create(root, name), device=device, quiet=True)
    search.enter_epoch(epoch)
    return search


def engine_steps_state(search, iterations: int = 2, *, seed: int = 7) -> dict:
    """Take ``iterations`` search iterations the way the engine's loop does (the recipe's
    ``search.order``: arch step then weight step, or weight step then arch step; one joint step
    for single-level recipes; no arch step in an epoch where the sampler does not update the
    architecture) under a fixed torch seed, and return the supernet's state and the
    architecture parameters — what two runs of the same maths (e.g. fast and plain paths) must
    agree on."""
    import torch

    from automl_nas.api.sampler import updates_arch

    scfg = search.recipe.search
    update_arch = updates_arch(search.sampler, search.run.epoch)
    torch.manual_seed(seed)  # the same sampler noise and drop-path masks on every call
    train, arch = search.train_loader.cycle(0), search.arch_loader.cycle(0)
    for _ in range(iterations):
        (x, y), (xv, yv) = next(train), next(arch)
        if scfg.mode == "single_level":
            search.single_step(x, y, update_arch)
            continue
        if scfg.order == "arch_first" and update_arch:
            search.arch_step(xv, yv, x, y)
        search.weight_step(x, y)
        if scfg.order == "weights_first" and update_arch:
            search.arch_step(xv, yv, x, y)
    state = {f"net.{k}": v for k, v in search.run.supernet.state_dict().items()}
    state.update({f"arch.{k}": v.detach() for k, v in search.run.params.items()})
    return state


def colour_blobs(n: int = 256, side: int = 8, classes: int = 4, test: int = 64, seed: int = 0):
    """A generated :class:`~automl_nas.api.ImageSet` that a few training steps can learn: four
    linearly separable classes (a class colour plus uniform noise of +-60 per pixel), the first
    ``test`` images held out as the test split."""
    import torch

    from automl_nas.api import ImageSet

    g = torch.Generator().manual_seed(seed)
    y = torch.randperm(n, generator=g) % classes
    colours = torch.tensor([[200, 50, 50], [50, 200, 50], [50, 50, 200], [190, 190, 60]])
    x = colours[y][:, :, None, None] + torch.randint(-60, 61, (n, 3, side, side), generator=g)
    x = x.clamp(0, 255).to(torch.uint8)
    return ImageSet(name="blobs", train_x=x[test:], train_y=y[test:], test_x=x[:test], test_y=y[:test],
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), num_classes=classes, crop_padding=1,
                    source="generated")


def torchrun_command(processes: int = 2) -> list[str]:
    """The command prefix that launches ``processes`` local ranks (torchrun, standalone
    rendezvous) of the script or ``-m module`` appended to it: data-parallel tests."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]


@contextlib.contextmanager
def loaded_script(path: str | Path):
    """The Python file ``path`` (a benchmark script, not a package module) imported as a module
    for the block, registered in ``sys.modules`` under its stem while it is loaded (dataclasses
    resolve annotations through it)."""
    import importlib.util
    import sys

    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def script_fixture(path: str | Path, *, scope: str = "module"):
    """A pytest fixture yielding the script at ``path`` imported by :func:`loaded_script`; its
    name is the module attribute it is assigned to (``step_time = script_fixture(...)``)."""
    import pytest

    @pytest.fixture(scope=scope)
    def fixture():
        with loaded_script(path) as module:
            yield module

    return fixture
