"""Tiny data and networks for the retrain evaluator's tests (seconds, one CPU thread)."""

from __future__ import annotations

import pytest
import torch

from automl_nas.api import ImageSet

def colour_blobs(n: int = 256, side: int = 8, classes: int = 4, test: int = 64, seed: int = 0) -> ImageSet:
    """Four linearly separable classes: a class colour plus uniform noise of +-60 per pixel."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randperm(n, generator=g) % classes
    colours = torch.tensor([[200, 50, 50], [50, 200, 50], [50, 50, 200], [190, 190, 60]])
    x = colours[y][:, :, None, None] + torch.randint(-60, 61, (n, 3, side, side), generator=g)
    x = x.clamp(0, 255).to(torch.uint8)
    return ImageSet(name="blobs", train_x=x[test:], train_y=y[test:], test_x=x[:test], test_y=y[:test],
                    mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), num_classes=classes, crop_padding=1,
                    source="generated")


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
