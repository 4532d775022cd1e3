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
[search]
epochs = 2
[search.sampler]
name = "toy-softmax"
[evaluator]
name = "toy-count"
[profile.quick.search]
epochs = 1
"""


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny test networks run fastest on one thread, and do not fight a busy CI box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def toy_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY_RECIPE + f'\n[run]\nroot = "{tmp_path / "runs"}"\n')
    return path


@pytest.fixture
def pm():
    from automl_nas.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def registry(pm):
    from automl_nas.manager import build_registry

    return build_registry(pm)
