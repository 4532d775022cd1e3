"""Per-op cost tables: latency-table files, checks against the run's space, expected and exact costs."""

from __future__ import annotations

import json

import pytest
import torch

from automl_nas.api import InputSpec
from automl_nas.costs import (
    GroupLatency,
    LatencyTable,
    expected_cost,
    genotype_cost,
    load_latency_table,
    read_latency_table,
)
from automl_nas.errors import RecipeError
from automl_nas.testing import run_recipe
from tests.conftest import toy_recipe_text

TINY = InputSpec(channels=3, height=8, width=8, num_classes=10)
KEY = "r.toml: search.objectives[1].latency_table"


def _nb201(**options):
    from automl_nas_space_nb201.config import Nb201Config
    from automl_nas_space_nb201.space import Nb201Space

    return Nb201Space(Nb201Config(**{"channels": 4, "cells_per_stage": 1, **options}))


def hand_table(space, inputs, path="t.json", value=lambda g, c, e, k: 1.0 + c + 0.1 * e + 0.01 * k) -> LatencyTable:
    """A latency table for ``space`` whose entry (cell c, edge e, op k) is ``value(group, c, e, k)``."""
    groups = {g.name: GroupLatency(ops=g.ops, edges=g.edges, cells=g.cells,
                                   latency_ms=tuple(tuple(tuple(value(g.name, c, e, k) for k in range(len(g.ops)))
                                                          for e in range(len(g.edges))) for c in range(g.cells)))
              for g in space.groups()}
    return LatencyTable(path=str(path), space=space.name, fingerprint=json.loads(json.dumps(space.fingerprint())),
                        inputs={"channels": inputs.channels, "height": inputs.height, "width": inputs.width},
                        groups=groups)


# ---- the file --------------------------------------------------------------------------------


def test_save_and_read_round_trip(tmp_path):
    table = hand_table(_nb201(), TINY, tmp_path / "t.json")
    table.save(tmp_path / "t.json")
    again = read_latency_table(tmp_path / "t.json")
    assert again == table
    assert again.tensors()["cell"].shape == (3, 6, 5)
    assert float(again.tensors()["cell"][2, 1, 3]) == pytest.approx(3.13)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.update(format="something else"), "not an automl-nas latency table"),
    (lambda d: d.update(unit="s"), "version 1 in ms"),
    (lambda d: d["groups"]["cell"]["latency_ms"].pop(), "shape (cells, edges, ops) = (3, 6, 5)"),
    (lambda d: d["groups"]["cell"]["latency_ms"][0][0].__setitem__(2, -1.0), "finite non-negative"),
    (lambda d: d["groups"]["cell"]["latency_ms"][0][0].__setitem__(2, "fast"), "finite non-negative"),
    (lambda d: d.pop("inputs"), "missing key 'inputs'"),
    (lambda d: d.update(inputs={"channels": 3}), "inputs must be"),
])
def test_malformed_tables_are_refused(tmp_path, edit, message):
    data = hand_table(_nb201(), TINY).to_json()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="malformed|not an automl") as info:
        read_latency_table(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_missing_or_broken_file_is_a_recipe_error_with_the_command(tmp_path):
    with pytest.raises(RecipeError, match=r"search.objectives\[1\].latency_table: latency table .* does not exist") as info:
        load_latency_table(tmp_path / "none.json", key="search.objectives[1].latency_table")
    assert "automl profile-ops" in str(info.value)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_latency_table(tmp_path / "broken.json", key="k")


# ---- checks against the run's space -----------------------------------------------------------


def test_matching_table_passes_the_space_check():
    hand_table(_nb201(), TINY).check_space(_nb201(), TINY, key=KEY)


def test_other_configuration_is_refused_with_the_regenerating_command():
    table = hand_table(_nb201(), TINY, "lat.json")
    with pytest.raises(RecipeError) as info:
        table.check_space(_nb201(channels=8), TINY, key=KEY)
    text = str(info.value)
    assert text.startswith(KEY) and "channels (table 4, run 8)" in text
    assert "automl profile-ops nb201 --set space.channels=8 --set space.cells_per_stage=1" in text
    assert "--input 3x8x8 --out lat.json" in text


def test_other_input_size_and_other_space_are_refused():
    from automl_nas_space_darts.config import DartsConfig
    from automl_nas_space_darts.space import DartsSpace

    table = hand_table(_nb201(), TINY)
    with pytest.raises(RecipeError, match="measured for 3x8x8 images, the run's data are 1x16x16"):
        table.check_space(_nb201(), InputSpec(channels=1, height=16, width=16), key=KEY)
    with pytest.raises(RecipeError, match="measured for search space 'nb201', not 'darts'"):
        table.check_space(DartsSpace(DartsConfig(channels=4, layers=3)), TINY, key=KEY)


def test_shape_check_names_both_shapes():
    table = hand_table(_nb201(), TINY)
    with pytest.raises(RecipeError, match=r"has groups cell \(3, 6, 5\) but the search space has cell \(15, 6, 5\)"):
        table.check_shapes({"cell": (15, 6, 5)}, key=KEY)


# ---- expected and exact costs, the same way for flops and latency ------------------------------


def _by_hand(table: dict, probs: dict) -> float:
    total = 0.0
    for g, p in probs.items():
        cells, edges, ops = table[g].shape
        total += sum(float(p[e, k]) * float(table[g][c, e, k]) for c in range(cells) for e in range(edges) for k in range(ops))
    return total


@pytest.mark.parametrize("metric", ["flops", "latency"])
def test_expected_and_genotype_cost(metric):
    space = _nb201()
    table = hand_table(space, TINY).tensors(dtype=torch.float64) if metric == "latency" else \
        {g: t["flops"].double() for g, t in space.op_costs(TINY).items()}
    probs = {"cell": torch.softmax(torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1)}
    assert float(expected_cost(table, probs)) == pytest.approx(_by_hand(table, probs), rel=1e-12)
    genotype = space.parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    choices = space.genotype_choices(genotype)
    chosen = [3, 1, 0, 4, 2, 3]
    exact = sum(float(table["cell"][c, e, k]) for c in range(3) for e, k in enumerate(chosen))
    assert genotype_cost(table, choices) == pytest.approx(exact, rel=1e-12)
    # a genotype costs what its one-hot distribution is expected to cost
    assert genotype_cost(table, choices) == pytest.approx(float(expected_cost(table, choices)), rel=1e-12)


def test_genotype_flops_follow_the_analytic_standalone_cost_per_cell():
    # NB201's standalone network repeats the cell in every stage like the search network, so the
    # per-op table summed over a genotype's ops equals the cells' share of genotype_costs()["flops"].
    space = _nb201()
    text = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    genotype = space.parse(text)
    empty = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    flops = {g: t["flops"] for g, t in space.op_costs(TINY).items()}
    cells_only = space.genotype_costs(genotype, TINY)["flops"] - space.genotype_costs(empty, TINY)["flops"]
    assert genotype_cost(flops, space.genotype_choices(genotype)) == pytest.approx(cells_only)


# ---- the check before the first epoch of a real run ----------------------------------------------


def _latency_run(tmp_path, table: LatencyTable):
    from automl_nas_toy.space import ToySpace
    from automl_nas_toy.hooks import ToySpaceConfig

    table.save(tmp_path / "lat.json")
    tail = ('[[search.objectives]]\nname = "cross_entropy"\n[[search.objectives]]\nname = "snas_resource"\n'
            f'costs = "latency"\nlatency_table = "{tmp_path / "lat.json"}"\nweight = 0.01\n')
    text = toy_recipe_text(tmp_path / "runs", count=32, tail=tail).replace("epochs = 2", "epochs = 1")
    return ToySpace(ToySpaceConfig()), text


def test_run_refuses_a_table_of_another_input_size(tmp_path):
    from automl_nas_toy.space import ToySpace
    from automl_nas_toy.hooks import ToySpaceConfig

    space = ToySpace(ToySpaceConfig())
    _, text = _latency_run(tmp_path, hand_table(space, InputSpec(channels=3, height=32, width=32)))
    with pytest.raises(RecipeError) as info:
        run_recipe(tmp_path, text)
    message = str(info.value)
    assert "search.objectives[1].latency_table" in message and "the run's data are 1x8x8" in message
    assert "automl profile-ops toy --input 1x8x8" in message


def test_run_with_a_matching_table_uses_the_latency(tmp_path):
    from automl_nas_toy.space import ToySpace
    from automl_nas_toy.hooks import ToySpaceConfig

    space = ToySpace(ToySpaceConfig())
    # conv (op 2) is by far the slowest: one strong arch step (Adam moves every logit by about lr)
    # lowers conv's logit on every edge below the others, whatever the 1e-3 initial noise
    table = hand_table(space, InputSpec(channels=1, height=8, width=8), value=lambda g, c, e, k: 50.0 if k == 2 else 0.01)
    _, text = _latency_run(tmp_path, table)
    outcome = run_recipe(tmp_path, text.replace("weight = 0.01", "weight = 1.0"),
                         overrides=["search.arch_optimizer.lr=0.1"])
    assert outcome.result["status"] == "finished"
    assert "conv_3x3" not in outcome.result["genotype"]


def test_a_table_timed_on_another_device_is_named_in_a_warning(tmp_path, capsys):
    """A table from another device was used without a word; it is the deployment device's on
    purpose as often as by mistake, so the run goes on and says whose times it weighs."""
    import attrs

    from automl_nas.profiling import device_name
    from automl_nas_toy.space import ToySpace
    from automl_nas_toy.hooks import ToySpaceConfig

    space = ToySpace(ToySpaceConfig())
    base = hand_table(space, InputSpec(channels=1, height=8, width=8))
    here = device_name("cpu")
    cases = [({"device": "cuda:0", "device_name": "NVIDIA H200"}, "was timed on cuda:0 (NVIDIA H200); this run is on cpu"),
             ({"device": "cpu", "device_name": "Some Other CPU"}, "was timed on cpu (Some Other CPU); this run is on cpu"),
             ({"device": "cpu", "device_name": here}, None),
             ({}, None)]  # fitted to a benchmark's measurements: nothing to compare
    for measured, expected in cases:
        _, text = _latency_run(tmp_path, attrs.evolve(base, measured=measured))
        outcome = run_recipe(tmp_path, text)  # quiet: the warning still reaches stderr
        assert outcome.result["status"] == "finished"
        err = capsys.readouterr().err
        if expected is None:
            assert "latency table" not in err, err
        else:
            assert f"warning: {tmp_path / 'recipe.toml'}: search.objectives[1].latency_table: latency table" in err, err
            assert expected in err and "automl profile-ops toy --input 1x8x8 --out FILE --device cpu" in err, err
