"""The shipped studies (recipes/studies/, issue 14) validate, quick and full, and one runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas.recipe import load_recipe, plan_recipe
from automl_nas.study.config import load_study_config

STUDIES = sorted((Path(__file__).resolve().parents[1] / "recipes" / "studies").glob("*.toml"))


def test_the_documented_studies_ship():
    assert {p.stem for p in STUDIES} >= {"gdas-temperature", "snas-temperature", "darts-arch"}


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
@pytest.mark.parametrize("profile", [None, "quick"])
def test_study_recipe_and_every_parameter_bound_plan(path, profile, registry):
    from automl_nas.session import open_session
    from automl_nas.study.driver import check_params

    plan = plan_recipe(path, registry, profile=profile)
    recipe = load_recipe(path, profile=profile)
    cfg = load_study_config(recipe.study, source=str(path), recipe_name=recipe.name)
    check_params(open_session(), path, profile, [], cfg)  # each key at both ends of its range
    if profile == "quick":
        assert plan.recipe.data.name == "digits" and plan.recipe.search.epochs <= 2 and cfg.trials <= 4
    else:
        assert plan.recipe.evaluator.name == "nb201-table" and cfg.trials >= 20


def test_gdas_temperature_study_runs_its_quick_profile(tmp_path):
    from automl_nas.study.driver import run_study

    path = next(p for p in STUDIES if p.stem == "gdas-temperature")
    out = run_study(path, profile="quick", trials=2, quiet=True,
                    overrides=["search.epochs=1", "search.steps_per_epoch=2", "search.valid_batches=1", "data.limit=200",
                               f"run.root='{tmp_path}'"])
    assert out["status"] == "finished" and out["trials"] == 2
    kinds = {t["params"]["search.sampler.temperature.kind"] for t in out["best"]} if out["best"] else set()
    assert kinds <= {"linear", "exponential", "cosine"}
    sdir = Path(out["study_dir"])
    assert (sdir / "trials.csv").read_text().count("\n") == 3
    for plot in ("history", "parallel_coordinate", "slice", "intermediate_values"):  # median pruner: per-epoch plot
        assert (sdir / f"{plot}.html").stat().st_size > 1000, (plot, out["plot_notes"])
    import optuna

    assert optuna.load_study(study_name=out["study"], storage=out["storage"]).metric_names == ["metrics.cifar10_analog"]
