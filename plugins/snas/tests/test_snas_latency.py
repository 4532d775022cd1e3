"""SNAS resource objective with the latency cost (a table of `automl profile-ops`)."""

from __future__ import annotations

import math
from pathlib import Path

import attrs
import pytest
import torch

from automl_nas.api import EdgeWeights, LossContext
from automl_nas.costs import GroupLatency, LatencyTable
from automl_nas.errors import RecipeError
from automl_nas.recipe.converter import structure

from automl_nas_snas.config import SnasResourceConfig
from automl_nas_snas.resource import SnasResource
from automl_nas_snas.sampler import SnasSampler

OPS = tuple(f"op{k}" for k in range(8))
CELLS = {"normal": 2, "reduce": 1}
EDGES = 3


def _ms(group: str, c: int, e: int, k: int) -> float:
    """Hand-made latencies (ms): distinct per group, cell, edge and op."""
    return (0.5 if group == "normal" else 2.0) * (1 + c) * (1 + 0.25 * e) * (0.1 + k)


def _table_file(tmp_path, cells=CELLS) -> str:
    groups = {g: GroupLatency(ops=OPS, edges=tuple(str(e) for e in range(EDGES)), cells=n,
                              latency_ms=tuple(tuple(tuple(_ms(g, c, e, k) for k in range(8)) for e in range(EDGES))
                                               for c in range(n)))
              for g, n in cells.items()}
    path = tmp_path / "lat.json"
    LatencyTable(path=str(path), space="darts", fingerprint={"name": "darts"},
                 inputs={"channels": 3, "height": 8, "width": 8}, groups=groups).save(path)
    return str(path)


def _flops() -> dict:
    return {g: {"flops": torch.full((n, EDGES, 8), 1000.0, dtype=torch.float64)} for g, n in CELLS.items()}


def _ctx(params: dict, z: dict, costs: dict, sampler=None) -> LossContext:
    return LossContext(phase="arch", logits=None, targets=None, params=params,
                       sample={g: EdgeWeights(weights=w) for g, w in z.items()}, sampler=sampler or SnasSampler(),
                       costs=costs)


def _params(seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {g: torch.randn(EDGES, 8, generator=gen, dtype=torch.float64, requires_grad=True) for g in CELLS}


def test_expected_latency_of_a_distribution_by_hand(tmp_path):
    # discrete estimator: R = sum_g ratio_g * mean over the group's cells of sum_e sum_k p_ek * L_cek (in us)
    params = _params()
    term = SnasResource(SnasResourceConfig(costs="latency", latency_table=_table_file(tmp_path), estimator="discrete",
                                           combine="linear", ratio=0.5))
    value = float(term(_ctx(params, {g: torch.zeros(EDGES, 8) for g in params}, _flops())).detach())
    expected = 0.0
    for g, n in CELLS.items():
        p = torch.softmax(params[g].detach(), -1).tolist()
        per_cell = [sum(p[e][k] * 1000 * _ms(g, c, e, k) for e in range(EDGES) for k in range(8)) for c in range(n)]
        expected += (0.5 if g == "reduce" else 1.0) * sum(per_cell) / n
    assert value == pytest.approx(expected, rel=1e-12)


def test_one_hot_sample_costs_the_chosen_ops_latency_in_log_form(tmp_path):
    # reparametrization with one-hot Z: r_e = log(latency of the chosen op, in us)
    term = SnasResource(SnasResourceConfig(costs="latency", latency_table=_table_file(tmp_path)))
    choice = {"normal": [7, 0, 3], "reduce": [1, 2, 5]}
    z = {g: torch.nn.functional.one_hot(torch.tensor(ks), 8).double() for g, ks in choice.items()}
    value = float(term(_ctx(_params(), z, _flops())))
    expected = sum(sum(math.log(1000 * _ms(g, c, e, k)) for e, k in enumerate(choice[g]) for c in range(CELLS[g])) / CELLS[g]
                   for g in CELLS)
    assert value == pytest.approx(expected, rel=1e-12)


def test_latency_joins_other_costs_in_the_log_form(tmp_path):
    term = SnasResource(SnasResourceConfig(costs=["flops", "latency"], latency_table=_table_file(tmp_path), combine="log"))
    z = {g: torch.nn.functional.one_hot(torch.tensor([2, 2, 2]), 8).double() for g in CELLS}
    value = float(term(_ctx(_params(), z, _flops())))
    expected = sum(sum((math.log(1000.0) + math.log(1000 * _ms(g, c, e, 2))) / 2 for e in range(EDGES) for c in range(n)) / n
                   for g, n in CELLS.items())
    assert value == pytest.approx(expected, rel=1e-12)


def test_table_of_other_shapes_is_refused_on_first_use(tmp_path):
    term = SnasResource(SnasResourceConfig(costs="latency", latency_table=_table_file(tmp_path, {"normal": 2, "reduce": 2})))
    with pytest.raises(RecipeError) as info:
        term(_ctx(_params(), {g: torch.full((EDGES, 8), 1 / 8) for g in CELLS}, _flops()))
    text = str(info.value)
    assert "snas_resource.latency_table" in text and "reduce (2, 3, 8)" in text and "reduce (1, 3, 8)" in text
    assert "automl profile-ops" in text


@pytest.mark.parametrize("options,key,message", [
    ({"costs": "latency"}, "latency_table", "latency_table is not set; measure one with `automl profile-ops"),
    ({"costs": "latency", "latency_table": "/nonexistent/lat.json"}, "latency_table",
     "/nonexistent/lat.json does not exist; measure it with `automl profile-ops"),
    ({"latency_table": "<table>"}, "latency_table", "costs do not include \"latency\""),
    ({"costs": ["latency", "params"], "combine": "linear", "latency_table": "<table>"}, "combine", "no latency coefficient"),
])
def test_recipe_errors_name_the_key_and_the_fix(tmp_path, options, key, message):
    options = {k: (_table_file(tmp_path) if v == "<table>" else v) for k, v in options.items()}
    with pytest.raises(RecipeError) as info:
        structure(options, SnasResourceConfig, source="snas.toml", prefix="search.objectives[1]")
    text = str(info.value)
    assert f"snas.toml: search.objectives[1].{key}: " in text and message in text  # the key, named once
    assert f"{key}: {key}:" not in text


def test_costs_given_as_one_string(tmp_path):
    assert SnasResourceConfig(costs="latency", latency_table=_table_file(tmp_path)).costs == ("latency",)
    assert SnasResourceConfig(costs="flops").costs == ("flops",)


def test_a_table_of_another_space_or_configuration_is_refused_at_plan_time(tmp_path):
    """`automl validate` said ok; the run refused the table once its data was loaded."""
    from click.testing import CliRunner

    from automl_nas.cli import main
    from automl_nas.costs import read_latency_table

    table = read_latency_table(_table_file(tmp_path))
    nb201 = attrs.evolve(table, space="nb201", fingerprint={"name": "nb201", "channels": 8, "cells_per_stage": 1},
                         path=str(tmp_path / "nb201.json"))
    nb201.save(nb201.path)
    recipe = Path(__file__).parents[3] / "recipes" / "snas.toml"

    def validate(path: str, *sets: str) -> str:
        objectives = f'search.objectives=[{{name="cross_entropy"}}, {{name="snas_resource", costs="latency", latency_table="{path}"}}]'
        result = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", objectives, *sets])
        return f"{result.exit_code} {' '.join(result.output.split())}"

    assert validate(nb201.path).startswith("0 ")  # the quick profile's 8 channels, 1 cell per stage
    wrong = validate(nb201.path, "--set", "space.channels=16")
    assert wrong.startswith("2 ") and (f"search.objectives[1]: latency_table: {nb201.path} was measured for another nb201 "
                                       f"configuration: space.channels (table 8, recipe 16)") in wrong, wrong
    # the fix measures for the recipe's own space and images (the old table's image size would be refused next)
    assert f"regenerate it with `automl profile-ops --recipe RECIPE [-p PROFILE] --out {nb201.path}`" in wrong
    other = validate(table.path)
    assert other.startswith("2 ") and f"{table.path} was measured for search space 'darts', not 'nb201'" in other, other
