"""Presets, option resolution, cutout geometry and the evaluator's input errors (no training)."""

from __future__ import annotations

import attrs
import pytest
import torch

from automl_nas.api import EvalContext, Genotype, ImageSet
from automl_nas.errors import DataError, RecipeError
from automl_nas.recipe.converter import structure
from automl_nas_eval_retrain.augment import cutout
from automl_nas_eval_retrain.config import PRESETS, RetrainConfig, resolve_settings
from automl_nas_eval_retrain.evaluator import Retrain
from automl_nas_eval_retrain.network import drop_path_at, network_space

DRNAS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_presets_are_the_papers_protocols():
    nb = PRESETS["nb201"].settings
    assert (nb.epochs, nb.batch_size, nb.lr, nb.lr_min, nb.momentum, nb.nesterov, nb.weight_decay) == (200, 256, 0.1, 0.0, 0.9, True, 5e-4)
    assert (nb.cutout, nb.auxiliary_weight, nb.drop_path_prob, nb.grad_clip) == (0, 0.0, 0.0, 0.0)
    assert PRESETS["nb201"].network == {"channels": 16, "cells_per_stage": 5}
    d = PRESETS["darts"].settings
    assert (d.epochs, d.batch_size, d.lr, d.lr_min, d.momentum, d.nesterov, d.weight_decay) == (600, 96, 0.025, 0.0, 0.9, False, 3e-4)
    assert (d.cutout, d.auxiliary_weight, d.drop_path_prob, d.grad_clip) == (16, 0.4, 0.2, 5.0)
    assert PRESETS["darts"].network == {"eval_channels": 36, "eval_layers": 20, "auxiliary": True}


def test_unset_options_take_the_preset_and_set_ones_win():
    settings, network, name = resolve_settings(RetrainConfig(epochs=3, cutout=0, network={"eval_channels": 8}), "darts")
    assert name == "darts" and settings.epochs == 3 and settings.cutout == 0
    assert settings.lr == 0.025 and settings.auxiliary_weight == 0.4  # untouched preset values
    assert network == {"eval_channels": 8, "eval_layers": 20, "auxiliary": True}
    # a space without a preset: NB201's schedule, no network sizes
    settings, network, name = resolve_settings(RetrainConfig(), "toy")
    assert (name, settings.epochs, network) == ("nb201", 200, {})
    with pytest.raises(ValueError, match="preset 'darts' trains darts networks"):
        resolve_settings(RetrainConfig(preset="darts"), "nb201")


def test_recipe_options_are_structured_and_checked():
    cfg = structure({"epochs": 2, "lr": 1, "network": {"channels": 8}}, RetrainConfig, source="r.toml", prefix="evaluator")
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.network == {"channels": 8}
    with pytest.raises(RecipeError, match=r"r.toml: evaluator.epoch: unknown key; did you mean 'epochs'\?"):
        structure({"epoch": 2}, RetrainConfig, source="r.toml", prefix="evaluator")
    with pytest.raises(RecipeError, match="evaluator.drop_path_prob"):
        structure({"drop_path_prob": 1.5}, RetrainConfig, source="r.toml", prefix="evaluator")
    with pytest.raises(RecipeError, match="evaluator.device"):
        structure({"device": "gpu"}, RetrainConfig, source="r.toml", prefix="evaluator")


def test_drop_path_ramp_is_linear_from_zero():
    assert [drop_path_at(0.2, e, 4) for e in range(4)] == [0.0, 0.05, 0.1, pytest.approx(0.15)]


def test_cutout_zeroes_darts_clipped_squares():
    x = torch.ones(6, 2, 7, 9)
    out = cutout(x, 4, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # same draws, as DARTS' per-image loop computes them
    cy, cx = torch.randint(0, 7, (6, 1), generator=g), torch.randint(0, 9, (6, 1), generator=g)
    for i in range(6):
        y, xx = int(cy[i]), int(cx[i])
        mask = torch.ones(7, 9)
        mask[max(y - 2, 0):min(y + 2, 7), max(xx - 2, 0):min(xx + 2, 9)] = 0
        assert torch.equal(out[i], mask.expand(2, 7, 9))
    assert torch.equal(cutout(x, 0, torch.Generator()), x)


def test_network_overrides_name_unknown_keys(nb201_space):
    small = network_space(nb201_space, {"channels": 4})
    assert small.config.channels == 4 and small.config.cells_per_stage == nb201_space.config.cells_per_stage
    with pytest.raises(RecipeError, match=r"evaluator.network.chanels: .*did you mean 'channels'\?"):
        network_space(nb201_space, {"chanels": 4})
    with pytest.raises(RecipeError, match="evaluator.network"):
        network_space(nb201_space, {"channels": 0})


def _no_test_split(data: ImageSet) -> ImageSet:
    return attrs.evolve(data, test_x=data.test_x[:0], test_y=data.test_y[:0])


def test_bad_inputs_are_clear_errors(nb201_space, blobs):
    ev = Retrain(RetrainConfig(epochs=1))
    genotype = Genotype("nb201", DRNAS_CELL)
    with pytest.raises(DataError, match="has no test split"):
        ev.evaluate(genotype, EvalContext(space=nb201_space, data=_no_test_split(blobs)))
    with pytest.raises(DataError, match="retrain needs a data set"):
        ev.evaluate(genotype, EvalContext(space=nb201_space, data=None))
    with pytest.raises(RecipeError, match="genotype of space 'darts'"):
        ev.evaluate(Genotype("darts", "x"), EvalContext(space=nb201_space, data=blobs))
    with pytest.raises(RecipeError, match="evaluator.preset: preset 'darts'"):
        Retrain(RetrainConfig(preset="darts")).evaluate(genotype, EvalContext(space=nb201_space, data=blobs))
    with pytest.raises(RecipeError, match="drop_path_prob = 0.2: the Nb201Network network has no drop-path"):
        Retrain(RetrainConfig(epochs=1, drop_path_prob=0.2, network={"channels": 2, "cells_per_stage": 1})).evaluate(
            genotype, EvalContext(space=nb201_space, data=blobs, log=lambda _: None))


def test_lr_min_above_lr_and_a_graph_are_refused_by_check_before_any_training(nb201_space, blobs):
    """`lr_min = 1` trained with a rising "cosine decay" (`lr 0.55` at epoch 2); the search refuses it."""
    with pytest.raises(RecipeError, match=r"evaluator.lr_min = 1.0 exceeds evaluator.lr = 0.1 .* anneals lr down"):
        Retrain(RetrainConfig(lr_min=1.0)).check(nb201_space, blobs)
    with pytest.raises(RecipeError, match=r"evaluator.lr_min = 0.5 exceeds evaluator.lr = 0.2"):
        Retrain(RetrainConfig(lr=0.2, lr_min=0.5)).check(nb201_space, blobs)
    Retrain(RetrainConfig(lr=0.2, lr_min=0.2)).check(nb201_space, blobs)
    from automl_nas_data_graph.config import SbmConfig
    from automl_nas_data_graph.sbm import Sbm

    with pytest.raises(DataError, match="retrain trains image networks, and the data set 'sbm' is a graph"):
        Retrain(RetrainConfig()).check(nb201_space, Sbm(SbmConfig(nodes=40)).load())


def test_a_mistyped_network_option_is_one_sentence_not_attrs_internals(nb201_space):
    from automl_nas_eval_retrain.network import network_space

    with pytest.raises(RecipeError) as err:
        network_space(nb201_space, {"channels": "x"})
    text = str(err.value)
    assert "evaluator.network: invalid 'nb201' space options {'channels': 'x'}: 'channels' must be" in text
    assert "Attribute(" not in text and "_AndValidator" not in text
