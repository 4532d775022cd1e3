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
