"""Every shipped recipe validates, with and without its quick profile, and each method runs end to end."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from automl_nas.recipe import plan_recipe

ALL = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
# `automl search` recipes (a [blackbox] table, no [search]) are checked by running them below
BLACKBOX = [p for p in ALL if "blackbox" in tomllib.loads(p.read_text())]
RECIPES = [p for p in ALL if p not in BLACKBOX]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates_with_and_without_quick(path, registry):
    full = plan_recipe(path, registry)
    quick = plan_recipe(path, registry, profile="quick")
    assert quick.recipe.search.epochs < full.recipe.search.epochs
    assert quick.recipe.data.name in ("digits", "sbm")  # embedded images or a generated graph: no network needed


@pytest.mark.parametrize("name", ["darts-nb201", "snas", "gdas", "drnas", "snas-darts"])
def test_method_runs_end_to_end_on_embedded_data(name, tmp_path):
    from automl_nas.session import run_recipe_file

    path = Path(__file__).resolve().parents[1] / "recipes" / f"{name}.toml"
    result = run_recipe_file(path, profile="quick", quiet=True,
                             overrides=["search.epochs=1", "search.steps_per_epoch=2", "search.valid_batches=1",
                                        "data.limit=200", f"run.root='{tmp_path}'"])
    assert result["status"] == "finished"
    assert result["genotype"]
    assert "search_time_s" in result


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_names_tables_not_development_paths(path, registry):
    """Issue 13: the paper recipes read the installed table (`automl bench ...`), never ../shared."""
    assert "shared" not in path.read_text()
    evaluator = plan_recipe(path, registry).recipe.evaluator
    if evaluator is not None and evaluator.name == "nb201-table":
        assert "path" not in evaluator.options


@pytest.mark.parametrize("path", BLACKBOX, ids=lambda p: p.stem)
def test_blackbox_recipe_runs_its_quick_profile(path, tmp_path):
    from automl_nas.study.blackbox import run_blackbox_recipe

    result = run_blackbox_recipe(path, profile="quick", overrides=[f"run.root='{tmp_path}'"], quiet=True)
    assert result["status"] == "finished" and result["queries"] < 100 and result["best_genotype"]


@pytest.mark.parametrize("path", BLACKBOX, ids=lambda p: p.stem)
def test_validate_checks_a_blackbox_recipe_without_running_it(path):
    from click.testing import CliRunner

    from automl_nas.cli import main

    ok = CliRunner().invoke(main, ["validate", str(path), "-p", "quick"])
    assert ok.exit_code == 0 and "ok (black-box:" in ok.output
    typo = CliRunner().invoke(main, ["validate", str(path), "--set", "blackbox.queries=-1"])
    assert typo.exit_code == 2 and "blackbox.queries" in typo.output
