"""The table evaluator's options: what a recipe can get wrong about the columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from automl_nas.cli import main

RECIPE = Path(__file__).parents[3] / "recipes" / "snas.toml"


@pytest.mark.parametrize("metrics, message", [
    ('"cifar10"', 'evaluator.metrics: expected a list such as ["cifar10"], got the string "cifar10"'),  # the columns 'c', 'i', ...
    ("[]", "evaluator.metrics: is an empty list, which reports no metric"),  # the run finished with no metric
])
def test_metrics_must_be_a_non_empty_list_of_columns(tmp_path, metrics, message):
    table = tmp_path / "t.csv"
    table.write_text("arch,cifar10\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10.0\n")
    result = CliRunner().invoke(main, ["validate", str(RECIPE), "--set", f"evaluator.path='{table}'",
                                       "--set", f"evaluator.metrics={metrics}"])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert CliRunner().invoke(main, ["validate", str(RECIPE), "--set", f"evaluator.path='{table}'",
                                     "--set", 'evaluator.metrics=["cifar10"]']).exit_code == 0


@pytest.mark.parametrize("variable", ["AUTOML_NAS_BENCHMARKS", "AUTOML_NAS_HOME"])
def test_a_missing_table_names_the_variable_that_places_the_store(tmp_path, monkeypatch, variable):
    monkeypatch.delenv("AUTOML_NAS_BENCHMARKS", raising=False)
    monkeypatch.setenv(variable, str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["validate", str(RECIPE)])
    assert result.exit_code == 4 and f"{variable} moves the store" in " ".join(result.output.split()), result.output
