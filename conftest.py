"""Fixtures for every test path of the repository (tests/ and plugins/*/tests/)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny test networks run fastest on one thread: OpenMP threads spinning against other
    jobs on a shared 2-core machine make them orders of magnitude slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def empty_automl_home(tmp_path_factory, monkeypatch):
    """Every test starts with an empty ``AUTOML_NAS_HOME`` (no installed benchmark table, no
    data cache), never the developer's ``~/.cache/automl-nas``."""
    home = tmp_path_factory.mktemp("automl-home")
    monkeypatch.setenv("AUTOML_NAS_HOME", str(home))
    monkeypatch.delenv("AUTOML_NAS_BENCHMARKS", raising=False)
    return home


@pytest.fixture(scope="session")
def nb201_home(tmp_path_factory):
    """An ``AUTOML_NAS_HOME`` whose store holds the nb201 table imported from the shared CSV
    (``../shared/benchmarks/nb201-test-accuracy.csv``, test accuracies only)."""
    from pathlib import Path

    from automl_nas.benchstore import TableStore
    from automl_nas_eval_tabular.bench import Nb201Benchmark

    home = tmp_path_factory.mktemp("automl-home-nb201")
    csv = Path(__file__).resolve().parent.parent / "shared" / "benchmarks" / "nb201-test-accuracy.csv"
    Nb201Benchmark().import_from(csv, TableStore(home / "benchmarks"))
    return home


@pytest.fixture
def installed_nb201(nb201_home, monkeypatch):
    """Point ``AUTOML_NAS_HOME`` at :func:`nb201_home` for this test."""
    monkeypatch.setenv("AUTOML_NAS_HOME", str(nb201_home))
    return nb201_home


# ---- the `cuda` marker (issue 15) ----
# Tests marked `cuda` run on a CUDA device. On a machine without one they are *deselected*
# (pytest's "N deselected" count) and the terminal summary names them and the reason, so a
# CPU-only run never reports them as passed. AUTOML_NAS_CUDA_TESTS=cpu runs the same tests on
# the CPU instead (a dry run of the subset: benchmarks/gpu_check.sh --device cpu).
_CUDA_NOT_RUN: list[str] = []


def cuda_test_device() -> str | None:
    """The device the `cuda` tests run on, or None when they cannot run here."""
    import os

    if os.environ.get("AUTOML_NAS_CUDA_TESTS") == "cpu":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else None


def pytest_collection_modifyitems(config, items):
    marked = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not marked or cuda_test_device() is not None:
        return
    config.hook.pytest_deselected(items=marked)
    items[:] = [item for item in items if item.get_closest_marker("cuda") is None]
    _CUDA_NOT_RUN.extend(item.nodeid for item in marked)


def pytest_sessionfinish(session):
    # Under pytest-xdist (README's test command) each worker collects and deselects: the controller,
    # which prints the summary, hears of them from the workers' output.
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["cuda_not_run"] = list(_CUDA_NOT_RUN)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for nodeid in (getattr(node, "workeroutput", None) or {}).get("cuda_not_run", []):
        if nodeid not in _CUDA_NOT_RUN:
            _CUDA_NOT_RUN.append(nodeid)


def pytest_terminal_summary(terminalreporter):
    if _CUDA_NOT_RUN:
        terminalreporter.section("cuda tests not run")
        terminalreporter.write_line(f"{len(_CUDA_NOT_RUN)} test(s) marked `cuda` were deselected, NOT run: "
                                    "torch.cuda.is_available() is False on this machine. Run them where a GPU is "
                                    "present (pytest -m cuda, or benchmarks/gpu_check.sh).")


@pytest.fixture
def cuda_device():
    """The device of a `cuda` test ("cuda", or "cpu" under AUTOML_NAS_CUDA_TESTS=cpu).

    fp32 runs in true fp32 while the test holds it: cuDNN's default TF32 rounds convolutions to
    10 mantissa bits, which no device-vs-CPU or fused-vs-plain fp32 tolerance should absorb.
    """
    import torch

    device = cuda_test_device()
    assert device is not None, "a `cuda` test ran without a device: the cuda marker's deselection failed"
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield device
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
