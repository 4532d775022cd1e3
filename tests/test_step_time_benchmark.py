"""benchmarks/step_time.py: every configuration plans from a shipped recipe, projections add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas.recipe import plan_recipe
from automl_nas.session import open_session
from automl_nas.testing import loaded_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def step_time():
    with loaded_script(REPO / "benchmarks" / "step_time.py") as module:
        yield module


def test_issue_configurations_are_all_there(step_time):
    official = {name: (c.official_ms, c.official_rss_gb) for name, c in step_time.CONFIGS.items() if c.official_ms}
    assert official == {"gdas-nb201": (567, 1.9), "darts-nb201": (2830, 4.4), "drnas-nb201": (2519, 3.1),
                        "drnas-pc-nb201": (947, 1.6), "snas-darts": (13055, 9.9), "darts-darts": (13435, 9.7)}


def test_every_configuration_plans(step_time, tmp_path):
    registry = open_session().registry
    for name, cfg in step_time.CONFIGS.items():
        plan = plan_recipe(REPO / cfg.recipe, registry, overrides=[
            f'data={{name="npz", path="{tmp_path / "x.npz"}", batch_size=64}}', "run.fast_paths=false", *cfg.overrides])
        assert plan.recipe.data.batch_size == 64 and plan.recipe.run.fast_paths is False, name
        if name == "darts-darts":
            assert plan.recipe.search.second_order is False  # the issue's rows are first order


def test_projection(step_time):
    m = step_time.Measurement(config="drnas-pc-nb201", path="fast", device="cpu", threads=2, bf16=False,
                              ms_iter=400.0, ms_min=390.0, ms_weight=250.0, ms_arch=150.0, ms_single=None, img_per_s=320.0,
                              peak_gb=1.0, peak_kind="process RSS", iters=10)
    # 40 epochs with arch steps + 10 warm-up epochs of weight steps only, 390 iterations each
    assert step_time.projection_hours(m) == pytest.approx(390 * (40 * 400 + 10 * 250) / 3.6e6)
    single = step_time.Measurement(**{**m.__dict__, "config": "snas-darts", "ms_single": 1000.0})
    assert step_time.projection_hours(single) == pytest.approx(150 * 781 * 1000 / 3.6e6)
