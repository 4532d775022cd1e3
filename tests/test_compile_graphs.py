"""``run.compile`` gives dynamo whole graphs that it keeps from step to step (issue 15).

CUDA graphs (``run.compile_mode = "reduce-overhead"``) capture only what dynamo holds in a graph:
after a graph break the rest of the forward runs eager, and a recompile per step costs a compile
per step. Dynamo traces the same Python on every device, so these tests run on the CPU with the
``eager`` backend (dynamo's tracing and guards, no code generation: seconds, not minutes).

The fused path's autograd Functions ask the running backward which gradients it wants
(``automl_nas/nn/grad_needs.py``); dynamo cannot trace that, so it ran every cell eager behind a
compiled shell (and its per-forward weight caches recompiled ``_source_terms`` up to dynamo's
limit). Under ``run.compile`` the engine traces the plain path instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from automl_nas.engine.compile_watch import dynamo_breaks, dynamo_graphs
from automl_nas.testing import build_search, engine_steps_state

REPO = Path(__file__).resolve().parents[1]
TINY = ['data={name="digits", size=8, batch_size=16, limit=128}', "run.device='cpu'", "run.threads=1"]
NB201_TINY = ["space.channels=8", "space.cells_per_stage=1"]
DARTS_TINY = ["space.channels=4", "space.layers=3", "space.steps=2", "space.multiplier=2"]


@pytest.fixture
def traced_only(monkeypatch):
    """``torch.compile`` with dynamo's ``eager`` backend (the engine's mode is recorded, not used)."""
    real, modes = torch.compile, []

    def compile_(model, **kwargs):
        modes.append(kwargs.get("mode"))
        return real(model, backend="eager")

    monkeypatch.setattr(torch, "compile", compile_)
    torch._dynamo.reset()
    counters.clear()
    yield modes
    torch._dynamo.reset()


def _graphs() -> int:
    return dynamo_graphs()


def _breaks() -> dict[str, int]:
    return dict(dynamo_breaks())


@pytest.mark.parametrize("recipe, extra, epoch", [
    ("darts-nb201.toml", NB201_TINY, 0),
    ("snas.toml", NB201_TINY, 0),
    ("drnas.toml", NB201_TINY, 0),
    # stage 2: pruned ops (a mask) and widened partial channels; arch SGD as in test_engine_fast (the
    # pruned ops' float-noise gradients, exactly 0 in exact maths, differ between paths and Adam scales them)
    ("drnas-progressive.toml", (*NB201_TINY, "search.sampler.stage_epochs=[2, 2]", "search.sampler.warmup_epochs=0",
                                "search.arch_optimizer={name='sgd', lr=3e-4}"), 2),
    ("darts.toml", (*DARTS_TINY, "search.second_order=false"), 0),
], ids=["darts-nb201", "snas", "drnas", "drnas-progressive-stage2", "darts-space"])
def test_a_compiled_supernet_is_whole_graphs_that_later_steps_reuse(tmp_path, traced_only, recipe, extra, epoch):
    overrides = [*TINY, *extra]
    search = build_search(REPO / "recipes" / recipe, root=tmp_path, name="compiled", epoch=epoch,
                          overrides=[*overrides, "run.compile=true", "run.compile_mode='reduce-overhead'"])
    assert traced_only == ["reduce-overhead"]
    compiled = engine_steps_state(search, iterations=1)
    first = _graphs()
    assert first >= 1 and not _breaks(), f"graph breaks: {_breaks()}"
    compiled = engine_steps_state(search, iterations=3, seed=11)  # new batches, new samples, new weights
    # the weight and the arch step may trace apart (the sample needs no gradient in the weight step)
    assert _graphs() == first <= 2 and not _breaks(), f"recompiled or broke: {_graphs()} graphs, {_breaks()}"
    # and the compiled steps are the engine's steps: the same state as an eager run of the same maths
    eager = build_search(REPO / "recipes" / recipe, root=tmp_path, name="eager", epoch=epoch, overrides=overrides)
    engine_steps_state(eager, iterations=1)
    want = engine_steps_state(eager, iterations=3, seed=11)
    assert want.keys() == compiled.keys()
    for key, value in want.items():
        torch.testing.assert_close(compiled[key], value, rtol=1e-4, atol=2e-5, msg=key)


def test_run_compile_traces_the_plain_path_and_leaves_the_fused_one_to_eager_runs(tmp_path, traced_only):
    def cells_fast(*extra):
        search = build_search(REPO / "recipes" / "drnas.toml", root=tmp_path, name="paths",
                              overrides=[*TINY, *NB201_TINY, *extra])
        return {cell.fast_paths for cell in search.run.supernet.cells if hasattr(cell, "edges")}

    assert cells_fast() == {True}
    assert cells_fast("run.compile=true") == {False}


@pytest.mark.parametrize("sampler", ["gdas", "uniform"])
def test_a_sampler_that_picks_one_op_per_edge_runs_eager_and_says_so(tmp_path, traced_only, capsys, sampler):
    # Each new pick is a new graph: dynamo recompiled every step up to its limit (minutes per
    # compile with a code-generating backend), then ran the slower plain path eager anyway.
    overrides = [*TINY, *NB201_TINY, *([] if sampler == "gdas" else [f"search.sampler={{name='{sampler}'}}"])]
    search = build_search(REPO / "recipes" / "gdas.toml", root=tmp_path, name="compiled",
                          overrides=[*overrides, "run.compile=true"])
    got = engine_steps_state(search, iterations=3)
    assert _graphs() == 0 and search.forward_net is search.run.supernet
    assert {cell.fast_paths for cell in search.run.supernet.cells if hasattr(cell, "edges")} == {True}
    err = capsys.readouterr().err
    assert err.count(f"run.compile is off for this run: sampler {sampler!r} picks one op per edge") == 1
    eager = build_search(REPO / "recipes" / "gdas.toml", root=tmp_path, name="eager", overrides=overrides)
    want = engine_steps_state(eager, iterations=3)
    for key, value in want.items():
        assert torch.equal(got[key], value), key  # the same run as without run.compile


def test_validation_under_run_compile_runs_the_fused_path_eager_and_leaves_the_graphs_alone(
        tmp_path, traced_only, monkeypatch):
    import automl_nas_space_nb201.network as network

    fused_calls = []
    real_fused = network.fused_cell_forward
    monkeypatch.setattr(network, "fused_cell_forward", lambda *a: fused_calls.append(1) or real_fused(*a))
    overrides = [*TINY, *NB201_TINY]
    search = build_search(REPO / "recipes" / "drnas.toml", root=tmp_path, name="compiled",
                          overrides=[*overrides, "run.compile=true"])
    engine_steps_state(search, iterations=1)
    graphs = _graphs()
    assert not fused_calls  # the compiled steps trace the plain path
    accuracy = search.valid_accuracy()
    assert fused_calls and {c.fast_paths for c in search.run.supernet.cells if hasattr(c, "edges")} == {False}
    engine_steps_state(search, iterations=2, seed=11)
    assert _graphs() == graphs and not _breaks()  # validation's switch did not cost a recompile
    eager = build_search(REPO / "recipes" / "drnas.toml", root=tmp_path, name="eager", overrides=overrides)
    engine_steps_state(eager, iterations=1)
    # the compiled steps ran the plain path, the eager ones the fused: float-close weights, so at most
    # one of the 64 validation images may fall the other way
    assert accuracy == pytest.approx(eager.valid_accuracy(), abs=100 / 64 + 1e-9)


def test_a_supernet_that_dynamo_breaks_into_pieces_is_said_once_and_the_search_goes_on(tmp_path, traced_only, capsys):
    # PyTorch Geometric's self-loop handling calls nonzero (a data-dependent shape): dynamo breaks there
    search = build_search(REPO / "recipes" / "gnn-darts.toml", root=tmp_path, name="gnn", profile="quick",
                          overrides=["run.device='cpu'", "run.threads=1", "run.compile=true"])
    engine_steps_state(search, iterations=3)
    err = capsys.readouterr().err
    assert err.count("run.compile: torch.compile split the supernet into") == 1, err
    assert "Dynamic shape operator" in err and "run.compile = false runs it eager" in err
    # a supernet held in whole graphs: no note
    search = build_search(REPO / "recipes" / "drnas.toml", root=tmp_path, name="nb201",
                          overrides=[*TINY, *NB201_TINY, "run.compile=true"])
    torch._dynamo.reset()
    counters.clear()
    engine_steps_state(search, iterations=3)
    assert "split the supernet" not in capsys.readouterr().err
