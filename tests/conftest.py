from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas.execution.cluster import use_token_auth

# As the tool does before it imports Ray, so every test module that imports Ray sees the same
# mode: Ray reads RAY_AUTH_MODE once, when imported, and a local instance started later inherits
# the variable (a driver that read "disabled" was refused by its own GCS).
use_token_auth()

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


PRUNED_STUDY = """
[executor]
name = "ray"
cpus = 1
[study]
name = "s"
trials = 3
parallelism = 2
sampler = "random"
pruner = "median"
prune_startup_trials = 1
metric = "metrics.convs"
[study.params]
"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }
"""


@pytest.fixture
def pruned_study(tmp_path: Path, make_toy_recipe):
    """``(recipe, storage URL)``: a toy study of two new trials at once on Ray, in a SQLite
    storage that already holds a trial whose valid_acc (101 at every epoch) nothing reaches, so
    the median pruner stops every new trial after its first epoch, a verdict only the driver,
    which alone opens the storage, can give."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="s", storage=url, direction="maximize").add_trial(create_trial(
        value=1.0, params={"search.arch_optimizer.lr": 1e-3}, intermediate_values={0: 101.0, 1: 101.0},
        distributions={"search.arch_optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)}))
    return make_toy_recipe(count=32, tail=PRUNED_STUDY), url


_BLANK_CELL_SEARCH = """name = "bb"
seed = 3
[space]
name = "nb201"
[evaluator]
name = "nb201-table"
[blackbox]
proposer = "random"
queries = 200
metric = "cifar10"
"""


@pytest.fixture
def blank_cell_search(tmp_path: Path):
    """A user's NB201 import whose cifar10 field was empty for every 7th cell (stored as nan), and
    ``search(*args)``: ``automl search`` over it into ``tmp_path/s``. Returns ``(blank cells, search)``."""
    from click.testing import CliRunner

    from automl_nas.benchstore import TableStore
    from automl_nas.cli import main
    from automl_nas_eval_tabular.synthetic import archs

    cells = archs(15_625)
    blank = set(cells[::7])
    TableStore().write("nb201", cells, {"cifar10": [float("nan") if c in blank else float(i % 97) for i, c in enumerate(cells)]},
                       source="synthetic", source_kind="test")
    recipe = tmp_path / "bb.toml"
    recipe.write_text(_BLANK_CELL_SEARCH)

    def search(*args: str):
        return CliRunner().invoke(main, ["search", str(recipe), "-q", "--run-dir", str(tmp_path / "s"), *args])

    return blank, search
