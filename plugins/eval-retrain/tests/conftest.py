"""Tiny data and networks for the retrain evaluator's tests (seconds, one CPU thread)."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import ImageSet
from automl_nas.testing import colour_blobs


@pytest.fixture
def blobs() -> ImageSet:
    return colour_blobs()


@pytest.fixture
def nb201_space():
    from automl_nas_space_nb201.space import Nb201Space

    return Nb201Space()


@pytest.fixture
def darts_space():
    from automl_nas_space_darts.space import DartsSpace

    return DartsSpace()


@pytest.fixture
def darts_genotype(darts_space):
    """A fixed cell with sep/dil convs, pools and a skip (drop-path skips identities)."""
    params = {g: torch.randn(14, 8, generator=torch.Generator().manual_seed(3)) for g in ("normal", "reduce")}
    return darts_space.derive(params)
