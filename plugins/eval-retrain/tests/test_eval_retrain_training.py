"""The retraining loop's behaviour: it learns, ramps drop-path, weighs the auxiliary loss, resumes exactly."""

from __future__ import annotations

import json

import attrs
import pytest
import torch
from torch import nn

from automl_nas.api import EvalContext, Genotype, InputSpec
from automl_nas.data import BatchLoader
from automl_nas.testing.contracts import EvaluatorContract
from automl_nas_eval_retrain.config import RetrainConfig, resolve_settings
from automl_nas_eval_retrain.evaluator import Retrain
from automl_nas_eval_retrain.network import network_space
from automl_nas_eval_retrain.trainer import Trainer, objective

DRNAS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY_NB201 = {"channels": 4, "cells_per_stage": 1}
TINY_DARTS = {"eval_channels": 4, "eval_layers": 3, "auxiliary": True}
QUIET = {"log": lambda _line: None}


def test_a_few_epochs_learn_separable_data_and_report_the_space_costs(nb201_space, blobs):
    cfg = RetrainConfig(epochs=3, batch_size=32, lr=0.05, network=TINY_NB201)
    metrics = Retrain(cfg).evaluate(Genotype("nb201", DRNAS_CELL), EvalContext(space=nb201_space, data=blobs, **QUIET))
    assert set(Retrain.metrics) <= set(metrics)
    assert metrics["test_acc"] >= 80.0  # chance is 25 %
    assert metrics["train_loss"] < 1.0  # log(4) = 1.386 at chance
    small = network_space(nb201_space, TINY_NB201)
    costs = small.genotype_costs(Genotype("nb201", DRNAS_CELL), InputSpec(height=8, width=8, num_classes=4))
    assert (metrics["params"], metrics["flops"]) == (costs["params"], costs["flops"])
    net = small.build_network(Genotype("nb201", DRNAS_CELL), InputSpec(height=8, width=8, num_classes=4))
    assert metrics["params"] == sum(p.numel() for p in net.parameters())


def test_darts_costs_are_the_space_model_without_the_aux_head(darts_space, darts_genotype, blobs):
    cfg = RetrainConfig(epochs=1, batch_size=64, network=TINY_DARTS)
    metrics = Retrain(cfg).evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, **QUIET))
    costs = network_space(darts_space, TINY_DARTS).genotype_costs(darts_genotype, InputSpec(height=8, width=8, num_classes=4))
    assert (metrics["params"], metrics["flops"]) == (costs["params"], costs["flops"])


def _trainer(space, genotype, data, checkpoints=None, **options) -> Trainer:
    cfg = RetrainConfig(network=TINY_DARTS, batch_size=64, **options)
    settings, network, _ = resolve_settings(cfg, space.name)
    torch.manual_seed(0)
    net = network_space(space, network).build_network(genotype, InputSpec(height=8, width=8, num_classes=4))
    train = BatchLoader(data, torch.arange(len(data.train_y)), batch_size=settings.batch_size, seed=0)
    test = BatchLoader(data, torch.arange(len(data.test_y)), batch_size=64, seed=0, augment=False, shuffle=False,
                       drop_last=False, images=data.test_x, labels=data.test_y)
    return Trainer(net, settings, train, test, seed=0, checkpoints=checkpoints, **QUIET)


def test_drop_path_ramps_per_epoch_as_in_darts(darts_space, darts_genotype, blobs):
    trainer = _trainer(darts_space, darts_genotype, blobs, epochs=4, drop_path_prob=0.2, cutout=0)
    seen: list[float] = []
    cell = trainer.net.cells[0]
    cell.register_forward_pre_hook(lambda _m, _a, kwargs: seen.append(kwargs["drop_prob"]), with_kwargs=True)
    trainer.train()
    steps = len(trainer.train_loader)
    assert seen == [0.0] * steps + [0.05] * steps + [0.1] * steps + [pytest.approx(0.15)] * steps
    assert [r["drop_path"] for r in trainer.history] == [0.0, 0.05, 0.1, pytest.approx(0.15)]
    trainer.test_accuracy()
    assert seen[-1] == pytest.approx(0.15) and not trainer.net.training  # eval mode: cells skip drop-path


def _grads(net: nn.Module, x, y, aux_weight: float) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    loss, _ = objective(net(x), y, nn.CrossEntropyLoss(), aux_weight)
    loss.backward()
    return {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for n, p in net.named_parameters()}


def test_auxiliary_weight_scales_only_the_aux_loss(darts_space, darts_genotype, blobs):
    torch.manual_seed(0)
    space = network_space(darts_space, TINY_DARTS)
    net = space.build_network(darts_genotype, InputSpec(height=8, width=8, num_classes=4)).double().train()
    x, y = blobs.train_x[:16].double() / 255, blobs.train_y[:16]
    g0, g4, g8 = (_grads(net, x, y, w) for w in (0.0, 0.4, 0.8))
    aux = [n for n in g0 if n.startswith("auxiliary_head")]
    after_tap = [n for n in g0 if n.startswith("classifier") or n.startswith(f"cells.{net.aux_index + 1}.")]
    before_tap = [n for n in g0 if n.startswith("stem")]
    assert aux and after_tap and before_tap
    assert all(g0[n].abs().max() == 0 for n in aux)  # weight 0: the aux head gets no gradient
    assert all(g4[n].abs().max() > 0 for n in aux)
    for n in after_tap:  # the main head's path is untouched by the aux term
        assert torch.allclose(g4[n], g0[n], atol=1e-12)
    for n in aux + before_tap:  # the aux term enters linearly with its weight
        assert torch.allclose(g8[n] - g0[n], 2 * (g4[n] - g0[n]), atol=1e-10)
    assert any(not torch.allclose(g4[n], g0[n]) for n in before_tap)


class Crash(Exception):
    """Stands in for a kill after the epoch's checkpoint was written."""


def _crash_after(line_start: str):
    def log(line: str) -> None:
        if line.startswith(line_start):
            raise Crash(line)

    return log


def test_resume_from_the_epoch_checkpoint_equals_an_uninterrupted_run(darts_space, darts_genotype, blobs, tmp_path):
    cfg = RetrainConfig(epochs=3, batch_size=64, network=TINY_DARTS, drop_path_prob=0.3, cutout=3)
    ev = Retrain(cfg)
    whole = ev.evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, run_dir=tmp_path / "a", **QUIET))
    with pytest.raises(Crash):
        ev.evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, run_dir=tmp_path / "b",
                                                log=_crash_after("retrain epoch 2/3")))
    lines: list[str] = []
    resumed = ev.evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, run_dir=tmp_path / "b", log=lines.append))
    assert any("resumed" in line and "after epoch 2/3" in line for line in lines)
    assert sum(line.startswith("retrain epoch") for line in lines) == 1  # only epoch 3 was trained again
    (a,), (b,) = (list((tmp_path / d / "retrain").glob("*/last.pt")) for d in ("a", "b"))
    assert a.parent.name == b.parent.name  # same job, same key
    state_a, state_b = (torch.load(p, weights_only=False) for p in (a, b))
    assert state_a["epochs_done"] == state_b["epochs_done"] == 3
    for k, v in state_a["model"].items():
        assert torch.equal(v, state_b["model"][k]), k
    drop_time = lambda m: {k: v for k, v in m.items() if k != "train_time_s"}  # noqa: E731
    assert drop_time(resumed) == drop_time(whole)
    job = json.loads((a.parent / "job.json").read_text())
    assert job["genotype"] == darts_genotype.text and job["settings"]["epochs"] == 3
    assert len((a.parent / "epochs.jsonl").read_text().splitlines()) == 3


def test_another_job_gets_its_own_checkpoint(nb201_space, blobs, tmp_path):
    ctx = EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path, **QUIET)
    for epochs in (1, 2):
        Retrain(RetrainConfig(epochs=epochs, batch_size=64, network=TINY_NB201)).evaluate(Genotype("nb201", DRNAS_CELL), ctx)
    assert len(list((tmp_path / "retrain").glob("*/last.pt"))) == 2


def test_a_finished_job_keeps_its_weights_without_the_optimiser_and_is_answered_from_its_result(
        nb201_space, blobs, tmp_path, monkeypatch):
    """A black-box search with this evaluator kept every query's weights and momentum: its disk
    grew by two networks per query, and a genotype asked again was trained again."""
    genotype = Genotype("nb201", DRNAS_CELL)
    cfg = RetrainConfig(epochs=2, batch_size=64, network=TINY_NB201)
    ctx = EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path / "kept", **QUIET)
    first = Retrain(cfg).evaluate(genotype, ctx)
    (folder,) = (tmp_path / "kept" / "retrain").iterdir()
    state = torch.load(folder / "last.pt", weights_only=True)
    assert "optimizer" not in state and state["epochs_done"] == 2  # what export and warm_start read stays
    net = network_space(nb201_space, TINY_NB201).build_network(genotype, InputSpec(height=8, width=8, num_classes=4))
    net.load_state_dict(state["model"])
    assert json.loads((folder / "result.json").read_text()) == first

    def no_training(self, epoch):
        raise AssertionError("a finished job was trained again")

    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    assert Retrain(cfg).evaluate(genotype, ctx) == first  # answered from result.json
    for edited in ('{"test_acc": 17.5}', '{"test_acc": null}', '[]'):  # not a whole record: the test pass again
        (folder / "result.json").write_text(edited)
        assert Retrain(cfg).evaluate(genotype, ctx)["test_acc"] == first["test_acc"]
    (folder / "result.json").unlink()  # a retraining finished before result.json existed: the test pass again
    assert Retrain(cfg).evaluate(genotype, ctx)["test_acc"] == first["test_acc"]
    monkeypatch.undo()

    lean = EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path / "lean", **QUIET)
    trained = Retrain(attrs.evolve(cfg, keep_weights=False)).evaluate(genotype, lean)
    assert {**trained, "train_time_s": 0} == {**first, "train_time_s": 0}  # the same training
    (folder,) = (tmp_path / "lean" / "retrain").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["epochs.jsonl", "job.json", "result.json"]
    monkeypatch.setattr(Trainer, "train_epoch", no_training)
    assert Retrain(attrs.evolve(cfg, keep_weights=False)).evaluate(genotype, lean) == trained
    said = []  # asked again wanting the weights: answered, and told they are gone (it said nothing)
    assert Retrain(cfg).evaluate(genotype, EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path / "lean",
                                                       log=said.append)) == trained
    assert any("its weights were not kept (keep_weights = false" in line for line in said), said


def test_a_job_another_evaluation_is_training_is_refused_naming_it(nb201_space, blobs, tmp_path):
    """Two `automl eval` of one job at once trained it twice in one folder; one failed at a
    checkpoint write, reported as a full disk."""
    from automl_nas.errors import RunError
    from automl_nas.records.lock import directory_lock
    from automl_nas_eval_retrain.checkpoint import CheckpointDir

    genotype = Genotype("nb201", DRNAS_CELL)
    cfg = RetrainConfig(epochs=1, batch_size=64, network=TINY_NB201)
    ctx = EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path, **QUIET)
    Retrain(cfg).evaluate(genotype, ctx)
    (folder,) = (tmp_path / "retrain").iterdir()
    job = json.loads((folder / "job.json").read_text())
    other = CheckpointDir(tmp_path, {**job, "seed": job["seed"] + 1})  # the same job with another seed
    with directory_lock(other.path if other.path.mkdir(parents=True) is None else other.path, what="retraining of this job"):
        with pytest.raises(RunError, match="is in use by another retraining of this job"):
            Retrain(attrs.evolve(cfg, seed=job["seed"] + 1)).evaluate(genotype, ctx)
    assert not any(other.path.iterdir())


def test_warm_start_without_kept_weights_is_refused_before_a_run(tmp_path):
    from automl_nas.errors import RecipeError
    from automl_nas.preflight import preflight_config

    with pytest.raises(RecipeError, match="x.toml: evaluator: retrain: warm_start = true .* keep_weights = false"):
        preflight_config(RetrainConfig(warm_start=True, keep_weights=False), "retrain", where="x.toml: evaluator")
    preflight_config(RetrainConfig(warm_start=True), "retrain", where="x.toml: evaluator")


def test_a_checkpoint_write_on_a_full_disk_says_the_same_command_continues(nb201_space, blobs, tmp_path, monkeypatch):
    import errno
    import os

    from automl_nas.errors import RunError
    from automl_nas.records import rundir

    cfg = RetrainConfig(epochs=2, batch_size=64, network=TINY_NB201)
    ctx = EvalContext(space=nb201_space, data=blobs, run_dir=tmp_path, **QUIET)
    real_fsync = os.fsync

    def full_after_epoch_1(fd):  # epoch 1's checkpoint fits; epoch 2's fills the disk
        if list(tmp_path.glob("retrain/*/epochs.jsonl")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(rundir.os, "fsync", full_after_epoch_1)
    with pytest.raises(RunError, match=r"last\.pt: cannot write \(No space left on device\)") as caught:
        Retrain(cfg).evaluate(Genotype("nb201", DRNAS_CELL), ctx)
    assert "run the same command again: retraining continues from its last checkpoint" in caught.value.hint
    assert "automl run --resume" not in caught.value.hint  # retraining is not a search run
    (job,) = tmp_path.glob("retrain/*")
    assert json.loads((job / "epochs.jsonl").read_text().splitlines()[-1])["epoch"] in (0, 1)  # epoch 1 kept
    monkeypatch.undo()
    Retrain(cfg).evaluate(Genotype("nb201", DRNAS_CELL), ctx)  # room again: the same call finishes
    assert len((job / "epochs.jsonl").read_text().splitlines()) == 2


def test_nan_loss_stops_with_the_epoch_and_step_named(nb201_space, blobs, tmp_path):
    from automl_nas.errors import RunError

    cfg = RetrainConfig(epochs=1, batch_size=64, lr=1e30, momentum=0.0, network=TINY_NB201)
    with pytest.raises(RunError, match=r"training loss is (nan|inf) at epoch 1, step \d"):
        Retrain(cfg).evaluate(Genotype("nb201", DRNAS_CELL), EvalContext(space=nb201_space, data=blobs, **QUIET))


class TestRetrainContract(EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        return Retrain(RetrainConfig(epochs=1, batch_size=64, network=TINY_NB201))

    @pytest.fixture
    def genotype(self):
        return Genotype("nb201", DRNAS_CELL)

    @pytest.fixture
    def eval_context(self, nb201_space, blobs):
        return EvalContext(space=nb201_space, data=blobs, **QUIET)

    def test_deterministic(self, evaluator, genotype, eval_context):
        """As the contract's, minus the wall-clock training time."""
        a = evaluator.evaluate(genotype, eval_context)
        b = evaluator.evaluate(genotype, eval_context)
        assert a.pop("train_time_s") >= 0 and b.pop("train_time_s") >= 0
        assert a == b


def test_a_search_recipe_can_retrain_its_result(tmp_path, blobs):
    import numpy as np

    from automl_nas.testing import run_recipe

    npz = tmp_path / "blobs.npz"
    x = torch.cat([blobs.train_x, blobs.test_x]).numpy()
    np.savez(npz, x=x, y=torch.cat([blobs.train_y, blobs.test_y]).numpy())
    outcome = run_recipe(tmp_path, f"""
name = "tiny"
[space]
name = "nb201"
channels = 4
cells_per_stage = 1
[data]
name = "npz"
path = "{npz}"
test_fraction = 0.25
batch_size = 32
[search]
epochs = 1
sampler = {{ name = "darts" }}
[evaluator]
name = "retrain"
epochs = 2
batch_size = 32
network = {{ channels = 4, cells_per_stage = 1 }}
[run]
device = "cpu"
""")
    assert outcome.result["status"] == "finished"
    metrics = outcome.result["metrics"]
    assert set(Retrain.metrics) <= set(metrics) and metrics["epochs"] == 2.0
    assert metrics["params"] == outcome.result["costs"]["params"]  # same network size as the run's space here
    (job,) = (outcome.run_dir / "retrain").glob("*/job.json")
    assert json.loads(job.read_text())["genotype"] == outcome.result["genotype"]


@pytest.mark.parametrize("space_value, evaluator_value, trained", [(None, None, 0.2), (0.3, None, 0.3), (0.3, 0.1, 0.1)])
def test_the_darts_space_s_eval_drop_path_is_the_final_drop_path_unless_the_evaluator_sets_one(
        darts_space, darts_genotype, blobs, tmp_path, space_value, evaluator_value, trained):
    """space.eval_drop_path was stored on the network and never read: the trainer always ramped to 0.2."""
    network = {**TINY_DARTS, **({"eval_drop_path": space_value} if space_value is not None else {})}
    cfg = RetrainConfig(epochs=1, batch_size=64, network=network, drop_path_prob=evaluator_value, train_limit=64)
    Retrain(cfg).evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, run_dir=tmp_path, **QUIET))
    (job,) = (json.loads(p.read_text()) for p in (tmp_path / "retrain").glob("*/job.json"))
    assert job["settings"]["drop_path_prob"] == trained


@pytest.mark.parametrize("key, instead", [("channels", "eval_channels"), ("layers", "eval_layers"),
                                          ("partial_channels", None)])
def test_a_network_option_that_sizes_only_the_search_supernet_is_refused(darts_space, blobs, key, instead):
    """network = {channels = 8} trained the full C = 36 network without a word."""
    from automl_nas.errors import RecipeError

    with pytest.raises(RecipeError, match=f"evaluator.network: '{key}' shapes only the 'darts' search supernet") as err:
        network_space(darts_space, {key: 4})
    assert (f"that network's is '{instead}'" in str(err.value)) == (instead is not None)
    with pytest.raises(RecipeError, match=f"'{key}' shapes only"):  # before a search that retrains at its end
        Retrain(RetrainConfig(network={key: 4})).check(darts_space, blobs)


def test_the_preset_cutout_scales_with_the_images_and_one_that_covers_them_is_refused(darts_space, darts_genotype,
                                                                                     blobs, monkeypatch):
    """DARTS' cutout 16 (set for 32x32 CIFAR) blanked every pixel of 8x8 images: the training
    learnt nothing, without a word."""
    import automl_nas_eval_retrain.trainer as trainer
    from automl_nas.errors import RecipeError
    from automl_nas_eval_retrain.config import fitted_cutout

    settings, _, _ = resolve_settings(RetrainConfig(), "darts")
    assert [fitted_cutout(settings, RetrainConfig(), h, w) for h, w in ((32, 32), (8, 8), (64, 64), (24, 40))] == \
           [16, 4, 32, 12]
    assert fitted_cutout(*resolve_settings(RetrainConfig(), "nb201")[:1], RetrainConfig(), 8, 8) == 0  # none stays none
    lengths = []
    real = trainer.cutout
    monkeypatch.setattr(trainer, "cutout", lambda x, length, gen: lengths.append(length) or real(x, length, gen))
    cfg = RetrainConfig(epochs=1, batch_size=64, network=TINY_DARTS, train_limit=64)
    Retrain(cfg).evaluate(darts_genotype, EvalContext(space=darts_space, data=blobs, **QUIET))
    assert blobs.shape[1:] == (8, 8) and set(lengths) == {4}
    for cutout in (8, 16):
        with pytest.raises(RecipeError, match=f"evaluator.cutout: cutout = {cutout} is as large as the 8x8 images: "
                                              f"it hides most of each training image \\(from 16, all of it\\)"):
            Retrain(RetrainConfig(cutout=cutout, network=TINY_DARTS)).check(darts_space, blobs)
    Retrain(RetrainConfig(cutout=7, network=TINY_DARTS)).check(darts_space, blobs)


def test_a_long_epoch_logs_its_steps(nb201_space, blobs):
    """Only finished epochs were logged: an epoch of a paper preset on a CPU is minutes of silence."""
    lines = []
    cfg = RetrainConfig(epochs=1, batch_size=16, network=TINY_NB201)
    space = network_space(nb201_space, TINY_NB201)
    net = space.build_network(Genotype("nb201", DRNAS_CELL), InputSpec(height=8, width=8, num_classes=4))
    settings, _, _ = resolve_settings(cfg, "nb201")
    train = BatchLoader(blobs, torch.arange(len(blobs.train_y)), batch_size=16, seed=0)
    trainer = Trainer(net, settings, train, train, seed=0, log=lines.append, step_every_s=0.0)
    trainer.train()
    steps = [line for line in lines if line.startswith("  retrain epoch 1/1 step ")]
    assert len(steps) == len(train) and steps[-1].startswith(f"  retrain epoch 1/1 step {len(train)}/{len(train)}  loss ")
    assert lines[-1].startswith("retrain epoch 1/1  loss") and " ETA 0m00s (then the test pass)" in lines[-1]
