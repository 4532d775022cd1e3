"""A quick run with run.trackers = ["tensorboard"] writes event files that tensorboard's own
reader (EventAccumulator) loads, with the values of metrics.jsonl and arch_history.jsonl."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from automl_nas.records import RunDir
from automl_nas.testing import run_recipe
from automl_nas.testing.trackers import toy_tracker_recipe
from automl_nas.tracking.images import alpha_image

TOY = toy_tracker_recipe("tensorboard")


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory):
    outcome = run_recipe(tmp_path_factory.mktemp("tb"), TOY)
    rd = RunDir(outcome.run_dir)
    acc = EventAccumulator(str(rd.path / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return outcome, rd, acc


def test_scalars_equal_the_epoch_records(tb_run):
    outcome, rd, acc = tb_run
    epochs = rd.read_epochs()
    assert outcome.result["status"] == "finished" and len(epochs) == 3
    tags = acc.Tags()["scalars"]
    for tag, field in (("acc/valid", "valid_acc"), ("acc/train", "train_acc"), ("loss/train", "train_loss"), ("lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [0, 1, 2]
        assert [e.value for e in events] == pytest.approx([getattr(r, field) for r in epochs], rel=1e-6)
    entropy = [t for t in tags if t.startswith("entropy/")]
    assert entropy and [e.value for e in acc.Scalars(entropy[0])] == pytest.approx(
        [next(iter(r.entropy.values())) for r in epochs], rel=1e-6)
    assert len(acc.Scalars("step/loss")) == 6  # 3 epochs x 2 steps


def test_edge_probabilities_and_alpha_images_match_the_arch_history(tb_run):
    _, rd, acc = tb_run
    history = rd.read_arch_history()
    group, matrix = next(iter(history[-1].probs.items()))
    prob_tags = [t for t in acc.Tags()["scalars"] if t.startswith(f"probs.{group}.")]
    assert len(prob_tags) == len(matrix) * len(matrix[0])
    values = sorted(acc.Scalars(t)[-1].value for t in prob_tags)
    assert values == pytest.approx(sorted(p for row in matrix for p in row), rel=1e-6)

    images = acc.Images(f"alpha/{group}")
    assert [i.step for i in images] == [0, 1, 2]
    last = Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("RGB")
    assert last.size == (len(matrix[0]) * 16, len(matrix) * 16)
    assert (np.asarray(last) == alpha_image(matrix)).all()


def test_the_genotype_is_logged_as_text(tb_run):
    _, rd, acc = tb_run
    texts = acc.Tensors("genotype/text_summary")
    assert [t.step for t in texts] == [0, 1, 2]
    assert [t.tensor_proto.string_val[0].decode() for t in texts] == [r.genotype for r in rd.read_epochs()]
