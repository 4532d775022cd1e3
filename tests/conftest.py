from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

TOY_RECIPE = """
name = "toy"
seed = 0
[space]
name = "toy"
[data]
name = "toy-blobs"
batch_size = 16
{data_extra}[search]
epochs = 2
[search.sampler]
name = "toy-softmax"
[evaluator]
name = "toy-count"
[profile.quick.search]
epochs = 1
"""


def toy_recipe_text(root: Path, *, count: int | None = None, tail: str = "") -> str:
    """The toy recipe (outside plugin) with its run root, optional data size and extra tables."""
    data_extra = f"count = {count}\n" if count is not None else ""
    return (TOY_RECIPE.format(data_extra=data_extra)
            + f'\n[run]\nroot = "{root}"\ndevice = "cpu"\nthreads = 1\n' + tail)


@pytest.fixture
def make_toy_recipe(tmp_path: Path):
    """``make_toy_recipe(count=..., tail=...)`` writes ``tmp_path/toy.toml`` and returns its path."""

    def make(*, count: int | None = None, tail: str = "") -> Path:
        path = tmp_path / "toy.toml"
        path.write_text(toy_recipe_text(tmp_path / "runs", count=count, tail=tail))
        return path

    return make


@pytest.fixture
def toy_recipe(make_toy_recipe) -> Path:
    return make_toy_recipe()


@pytest.fixture
def pm():
    from automl_nas.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def registry(pm):
    from automl_nas.manager import build_registry

    return build_registry(pm)
