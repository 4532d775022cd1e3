"""Issue 18: the retraining evaluator's warm start — the parent's trained weights, carried by the
space's morphisms, found through the run's records."""

from __future__ import annotations

import json

import pytest
import torch

from automl_nas.api import EvalContext, InputSpec
from automl_nas.errors import RecipeError
from automl_nas.testing import colour_blobs
from automl_nas.testing.contracts import EvaluatorContract
from automl_nas_eval_retrain.config import RetrainConfig
from automl_nas_eval_retrain.evaluator import Retrain
from automl_nas_eval_retrain.warm_start import find_parent, morphism_path, warm_network
from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.space import MacroSpace


SPACE = MacroSpace(MacroConfig(channels=4, stages=2, slots=1))
PARENT = SPACE.parse("macro:c4,p,c8")
CHILD = SPACE.parse("macro:c4,r,p,c16")  # deepen(0), then widen(3, 16): two edits
OPTIONS = dict(epochs=2, batch_size=16, train_limit=64, eval_batch_size=64, threads=1, augment=False)


def _ctx(tmp_path, data) -> EvalContext:
    return EvalContext(space=SPACE, data=data, device="cpu", seed=0, run_dir=tmp_path, log=lambda m: None)


@pytest.fixture(scope="module")
def trained_parent(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("warm")
    data = colour_blobs(n=160, test=64)
    metrics = Retrain(RetrainConfig(**OPTIONS)).evaluate(PARENT, _ctx(run_dir, data))
    return run_dir, data, metrics


def test_the_child_starts_as_its_trained_parent(trained_parent):
    run_dir, data, _ = trained_parent
    job = json.loads(next(run_dir.glob("retrain/*/job.json")).read_text())
    found = find_parent(run_dir, {**job, "genotype": CHILD.text}, SPACE, CHILD, 3)
    assert found is not None
    folder, parent, path = found
    assert parent == PARENT and [str(m) for m in path] == ["deepen(0)", "widen(3, 16)"]
    inputs = InputSpec(height=8, width=8, num_classes=4)
    trained = SPACE.build_network(PARENT, inputs)
    trained.load_state_dict(torch.load(folder / "last.pt", weights_only=True)["model"])
    child = warm_network(SPACE, folder, PARENT, path, inputs, "cpu")
    x = (data.test_x.float() / 255 - 0.5) / 0.25
    for mode in ("train", "eval"):
        trained.train(mode == "train"), child.train(mode == "train")
        with torch.no_grad():
            torch.testing.assert_close(child(x), trained(x), rtol=1e-4, atol=1e-5)
    assert morphism_path(SPACE, CHILD, PARENT, 3) is None  # morphisms only grow a network


def test_warm_start_is_recorded_and_beats_training_from_scratch_at_equal_epochs(trained_parent):
    run_dir, data, parent_metrics = trained_parent
    warm = Retrain(RetrainConfig(**{**OPTIONS, "warm_start": True}))  # the parent's schedule: it is found
    cold = Retrain(RetrainConfig(**OPTIONS))
    warm_metrics = warm.evaluate(CHILD, _ctx(run_dir, data))
    cold_metrics = cold.evaluate(CHILD, _ctx(run_dir, data))
    assert warm_metrics["warm_start_edits"] == 2 and cold_metrics["warm_start_edits"] == 0
    jobs = [json.loads(p.read_text()) for p in run_dir.glob("retrain/*/job.json")]
    assert [j["warm_start"]["morphisms"] for j in jobs if "warm_start" in j] == [["deepen(0)", "widen(3, 16)"]]
    # the same two epochs for the child: warm, it continues from its parent's function and ends ahead
    assert warm_metrics["train_loss"] < cold_metrics["train_loss"]
    assert warm_metrics["test_acc"] >= cold_metrics["test_acc"]


def test_warm_start_without_a_run_directory_or_morphisms_is_refused(trained_parent):
    _, data, _ = trained_parent
    warm = Retrain(RetrainConfig(**{**OPTIONS, "warm_start": True}))
    with pytest.raises(RecipeError, match="run directory"):
        warm.evaluate(CHILD, EvalContext(space=SPACE, data=data, run_dir=None, log=lambda m: None))


class TestWarmStartRetrainContract(EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        return Retrain(RetrainConfig(**{**OPTIONS, "warm_start": True}))

    @pytest.fixture
    def genotype(self):
        return CHILD

    @pytest.fixture
    def eval_context(self, trained_parent):
        run_dir, data, _ = trained_parent
        return _ctx(run_dir, data)
