"""Property tests (issue 7): arbitrary recipes, overrides and architecture strings either
validate or fail with the project's own error type — never a bare traceback."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl_nas.api import Genotype, parse_genotype
from automl_nas.errors import AutomlError, PluginError, RecipeError
from automl_nas.recipe import load_raw, plan_recipe
from automl_nas.recipe._toml import tomllib

REPO = Path(__file__).resolve().parents[1]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ------------------------------------------------------------------ recipe documents

# Real key names (so generated documents reach deep into the converter) mixed with junk.
KEYS = ["name", "seed", "space", "data", "search", "evaluator", "run", "executor", "expected", "study", "blackbox",
        "profile", "quick", "options", "epochs", "batch_size", "sampler", "objectives", "weight", "lr", "lr_min",
        "temperature", "start", "end", "kind", "unit", "threads", "device", "root", "limit", "split", "metric",
        "value", "low", "high", "cpus", "gpus", "retries", "channels", "cells_per_stage", "weights_optimizer",
        "arch_optimizer", "betas", "mode", "order", "second_order", "train_fraction", "eval_every"]
names = st.sampled_from(KEYS) | st.text(min_size=1, max_size=8)
scalars = (st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
           | st.text(max_size=12) | st.sampled_from(["nb201", "darts", "snas", "gdas", "drnas", "cifar10", "digits",
                                                    "nb201-table", "toy", "toy-softmax", "halves", "cuda", "cpu"]))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=5),
                         max_leaves=25)
recipe_documents = st.dictionaries(names, documents, max_size=8)


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, (*prefix, key))
    else:
        yield prefix


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "prop.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def _validate(path: Path, registry, overrides=()) -> None:
    """Either a full plan or one of our errors; anything else fails the test."""
    try:
        plan_recipe(path, registry, overrides=overrides)
    except (RecipeError, PluginError):
        pass


@PROPS
@given(text=st.text(max_size=300))
def test_arbitrary_text_is_a_recipe_error_or_a_recipe(tmp_path, registry, text):
    path = tmp_path / "text.toml"
    path.write_text(text, encoding="utf-8")
    _validate(path, registry)


@PROPS
@given(doc=recipe_documents)
def test_arbitrary_documents_validate_or_raise_recipe_errors(tmp_path, registry, doc):
    _validate(_write(tmp_path, doc), registry)


SHIPPED = sorted((REPO / "recipes").glob("*.toml"))


@pytest.mark.parametrize("recipe", SHIPPED[:3] + [p for p in SHIPPED if p.stem == "darts"], ids=lambda p: p.stem)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_shipped_recipes_validate_or_name_the_key(tmp_path, registry, recipe, data):
    doc = load_raw(recipe)
    paths = [p for p in _leaf_paths(doc) if p and p[0] != "profile"]
    path = data.draw(st.sampled_from(paths), label="key")
    value = data.draw(scalars | st.lists(scalars, max_size=2) | st.dictionaries(names, scalars, max_size=2), label="value")
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        plan_recipe(_write(tmp_path, doc), registry)
    except RecipeError as exc:
        # The message names the file, and the key when the value was rejected by type or range.
        assert "prop.toml" in exc.message
    except PluginError:
        pass


@PROPS
@given(item=st.text(max_size=40) | st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
    ["search.epochs", "data.batch_size", "seed", "space.channels", "search.sampler.temperature.start", "search.sampler.options",
     "run.threads", "nope.deep.key", "search", "data"]), st.text(max_size=12)))
def test_arbitrary_overrides_validate_or_raise_recipe_errors(registry, item):
    _validate(REPO / "recipes" / "snas.toml", registry, overrides=[item])


def test_known_bad_values_name_their_keys(tmp_path, registry):
    # Examples of issue 7's list, pinned so a regression shows the exact message.
    for override, key in (("search.epochs=-1", "search.epochs"), ("data.batch_size=0", "data.batch_size"),
                          ("search.sampler.temperature.start=0.0", "temperature must stay > 0"),
                          ("run.threads='two'", "run.threads")):
        with pytest.raises(RecipeError) as info:
            plan_recipe(REPO / "recipes" / "gdas.toml", registry, overrides=[override])
        assert key in info.value.message, (override, info.value.message)


def test_toml_round_trip_is_what_the_property_tests_exercise(tmp_path):
    doc = {"a": {"b": [1, 2.5, math.inf], "c": "x"}}
    assert tomllib.loads(_write(tmp_path, doc).read_text()) == doc


# ------------------------------------------------------------------ architecture strings


@pytest.fixture(scope="module")
def spaces():
    from automl_nas_space_darts.config import DartsConfig
    from automl_nas_space_darts.space import DartsSpace
    from automl_nas_space_nb201.config import Nb201Config
    from automl_nas_space_nb201.space import Nb201Space

    return {"nb201": Nb201Space(Nb201Config(channels=4, cells_per_stage=1)), "darts": DartsSpace(DartsConfig())}


NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5"]
nb201_pieces = st.lists(st.sampled_from(["|", "+", "~", "0", "1", "2", "3", "-1", " ", *NB201_OPS]), max_size=30).map("".join)
darts_pieces = st.lists(st.sampled_from(["Genotype(", ")", "normal=", "reduce=", "normal_concat=", "reduce_concat=",
                                         "[", "]", "(", ",", "'", "range(2, 6)", "0", "1", "5", "9", "-1", "__import__",
                                         *DARTS_OPS]), max_size=40).map("".join)


def _check_parse(space, text: str) -> None:
    try:
        genotype = parse_genotype(space, text, where="--arch")
    except RecipeError as exc:
        assert exc.message.startswith("--arch: ")
        return
    assert isinstance(genotype, Genotype) and genotype.space == space.name
    assert space.parse(genotype.text) == genotype  # canonical text is a fixed point


@PROPS
@given(text=st.text(max_size=200) | nb201_pieces)
def test_nb201_strings_parse_or_raise_recipe_errors(spaces, text):
    _check_parse(spaces["nb201"], text)


@PROPS
@given(text=st.text(max_size=200) | darts_pieces)
def test_darts_strings_parse_or_raise_recipe_errors(spaces, text):
    _check_parse(spaces["darts"], text)


@PROPS
@given(index=st.integers(0, 15624))
def test_every_nb201_cell_text_parses_back_to_itself(spaces, index):
    space = spaces["nb201"]
    genotype = space.decode(index)
    assert parse_genotype(space, genotype.text) == genotype and space.encode(genotype) == index


@PROPS
@given(ops=st.lists(st.tuples(st.sampled_from(DARTS_OPS[1:]), st.integers(0, 5)), min_size=8, max_size=8))
def test_generated_darts_cells_parse_iff_their_inputs_are_earlier_nodes(spaces, ops):
    text = f"Genotype(normal={ops}, normal_concat=[2, 3, 4, 5], reduce={ops}, reduce_concat=[2, 3, 4, 5])"
    legal = all(src < 2 + i // 2 for i, (_, src) in enumerate(ops))
    if legal:
        assert parse_genotype(spaces["darts"], text).space == "darts"
    else:
        with pytest.raises(RecipeError, match="is not an architecture"):
            parse_genotype(spaces["darts"], text)


def test_parse_genotype_errors_are_automl_errors_with_a_fix(spaces):
    with pytest.raises(AutomlError) as info:
        parse_genotype(spaces["nb201"], "|nor_conv_3x3~0|+|", where="recipes/x.toml: evaluator.arch")
    assert "recipes/x.toml: evaluator.arch" in info.value.message and "|" in (info.value.hint or "")
