"""CONTRIBUTING.md's examples stay true: the sampler excerpt is the shipped plugin's code and
the objective example computes the expected parameter count."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "CONTRIBUTING.md").read_text(), flags=re.S)


def test_sampler_excerpt_is_the_shipped_code():
    source = (REPO / "plugins" / "uniform" / "automl_nas_uniform" / "sampler.py").read_text()
    excerpt = next(b for b in _python_blocks() if "class UniformSampler" in b)
    lines = [ln for ln in excerpt.splitlines() if ln.strip()]
    assert len(lines) >= 6 and all(ln in source for ln in lines)


def test_objective_example_is_the_expected_parameter_count():
    from automl_nas.api import LossContext
    from automl_nas.session import open_session

    namespace: dict = {}
    exec(next(b for b in _python_blocks() if "class ExpectedParams" in b), namespace)  # noqa: S102 - our own docs
    registry = open_session().registry
    space = registry.create("search_space", "nb201", registry.get("search_space", "nb201").config(channels=4, cells_per_stage=1))
    from automl_nas.api import InputSpec

    costs = space.op_costs(InputSpec())
    sampler = registry.create("sampler", "darts")
    params = {"cell": torch.zeros(6, 5, requires_grad=True)}
    ctx = LossContext(phase="arch", logits=torch.zeros(2, 10), targets=torch.zeros(2, dtype=torch.long), params=params,
                      sample={}, sampler=sampler, costs=costs)
    value = namespace["ExpectedParams"]()(ctx)
    uniform_mean = sum(float(t["params"].sum()) for t in costs.values()) / 5 / 1e6  # uniform probs: mean over K ops
    assert abs(float(value.detach()) - uniform_mean) < 1e-9 * max(1.0, uniform_mean)
    value.backward()
    assert params["cell"].grad.abs().sum() > 0
    namespace["ExpectedParams"]().check_run(space, InputSpec(), key="r.toml: search.objectives[1]")
    toy = registry.create("search_space", "toy", registry.get("search_space", "toy").config())
    import pytest

    from automl_nas.errors import RecipeError

    with pytest.raises(RecipeError, match=r"r.toml: search.objectives\[1\]: expected_params needs a space with op_costs"):
        namespace["ExpectedParams"]().check_run(toy, InputSpec(), key="r.toml: search.objectives[1]")


def test_tracker_example_writes_one_row_per_epoch(tmp_path):
    import csv

    from automl_nas.records import RunDir
    from automl_nas.testing import run_recipe
    from automl_nas.tracking import TrackerHooks
    from tests.conftest import TOY_RECIPE

    namespace: dict = {}
    exec(next(b for b in _python_blocks() if "class CsvTracker" in b), namespace)  # noqa: S102 - our own docs
    hooks = TrackerHooks(namespace["CsvTracker"](), name="csv", origin="docs", source="CONTRIBUTING.md")
    outcome = run_recipe(tmp_path, TOY_RECIPE.format(data_extra=""), plugins=[(hooks, "csv")],
                         overrides=["search.steps_per_epoch=2", "search.epochs=2"])
    assert hooks.failed is None
    rows = list(csv.DictReader(open(outcome.run_dir / "scalars.csv")))
    epochs = RunDir(outcome.run_dir).read_epochs()
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [float(r["acc/valid"]) for r in rows] == [e.valid_acc for e in epochs]


def _modules_with_examples() -> list[str]:
    roots = [REPO / "automl_nas", *sorted(REPO.glob("plugins/*/automl_nas_*"))]
    found = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if ">>> " in path.read_text(encoding="utf-8"):
                found.append(".".join(path.relative_to(root.parent).with_suffix("").parts))
    return found


@pytest.mark.parametrize("module", _modules_with_examples())
def test_docstring_examples_run_and_show_what_they_print(module):
    """An example in a docstring is documentation: it must run and print what it says (the
    Schedule example claimed 0.1 where GDAS' float arithmetic gives 0.09999999999999964)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples fail (python -m doctest)"


def test_every_help_example_names_a_shipped_recipe_the_command_takes():
    """`automl study --help` showed two recipes without a [study] table: both examples failed."""
    import tomllib

    from click.testing import CliRunner

    from automl_nas.cli import main

    checked = 0
    for name in main.list_commands(None):
        text = CliRunner().invoke(main, [name, "--help"]).output
        for line in (ln.strip() for ln in text.splitlines() if ln.strip().startswith(f"automl {name} ")):
            for recipe in re.findall(r"recipes/[\w./-]+\.toml", line):
                raw = tomllib.loads((REPO / recipe).read_text())
                checked += 1
                if name == "study":
                    assert "study" in raw, f"`{line}`: {recipe} has no [study] table"
                if name == "search":
                    assert "blackbox" in raw, f"`{line}`: {recipe} has no [blackbox] table"
    assert checked >= 3
