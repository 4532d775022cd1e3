"""What every tracker logs for a search step: every ``step_every`` steps of the run (it counted
within each epoch: 11 steps an epoch and 10 gave steps 0, 10, 11, 21, 22, ...), and ``step/acc``
in percent like the epochs' ``acc/*`` (a fraction beside them)."""

from __future__ import annotations

import pytest


class _Recorder:
    def __init__(self) -> None:
        self.logged: list[tuple[int, dict[str, float]]] = []


def _tensorboard():
    from automl_nas_track_tensorboard.hooks import TensorBoardConfig
    from automl_nas_track_tensorboard.tracker import TensorBoardTracker

    tracker, seen = TensorBoardTracker(TensorBoardConfig(step_every=10)), _Recorder()

    class Writer:
        def add_scalar(self, tag, value, step):
            if not seen.logged or seen.logged[-1][0] != step:
                seen.logged.append((step, {}))
            seen.logged[-1][1][tag] = value

    tracker.writer = Writer()
    return tracker, seen


def _mlflow():
    from automl_nas_track_mlflow.hooks import MlflowConfig
    from automl_nas_track_mlflow.tracker import MlflowTracker

    tracker, seen = MlflowTracker(MlflowConfig(step_every=10)), _Recorder()
    tracker._metrics = lambda values, step: seen.logged.append((step, dict(values)))
    return tracker, seen


def _wandb():
    from automl_nas_track_wandb.hooks import WandbConfig
    from automl_nas_track_wandb.tracker import WandbTracker

    tracker, seen = WandbTracker(WandbConfig(step_every=10)), _Recorder()

    class Run:
        def log(self, row):
            row = dict(row)
            seen.logged.append((row.pop("global_step"), row))

    tracker.run = Run()
    return tracker, seen


@pytest.mark.parametrize("make", [_tensorboard, _mlflow, _wandb], ids=["tensorboard", "mlflow", "wandb"])
def test_steps_are_logged_every_n_steps_of_the_run_with_accuracy_in_percent(make):
    tracker, seen = make()
    tracker.steps = 11
    for epoch in range(3):
        for step in range(11):
            tracker.log_step(None, epoch, step, {"loss": 2.0, "acc": 0.25, "lr": 0.1})
    assert [step for step, _ in seen.logged] == [0, 10, 20, 30]
    assert seen.logged[0][1] == {"step/loss": 2.0, "step/acc": 25.0, "step/lr": 0.1}
