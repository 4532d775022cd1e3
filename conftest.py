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
