"""The TensorBoard tracker: one event-file run per search run, in ``<run dir>/tensorboard``.

What is written (x axis: the epoch, except ``step/*``: the global step):

* every scalar of :meth:`automl_nas.api.EpochView.scalars` (``loss/train``, ``acc/valid``,
  ``lr``, ``sampler/temperature``, ``entropy/<group>``, ``collapse/skip_fraction``, ...);
* every op probability as ``probs.<group>.<edge>/<op>``: TensorBoard groups tags by the part
  before the first ``/``, so each edge gets its own chart section;
* ``alpha/<group>``: the edges x ops probability matrix as a viridis image (rows: edges);
* ``genotype``: the epoch's genotype as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from automl_nas.api import EpochView, Tracker, logged_step, step_scalars
from automl_nas.tracking.images import alpha_image

from automl_nas_track_tensorboard.hooks import TensorBoardConfig

if TYPE_CHECKING:
    from automl_nas.api import GroupSpec, RunContext
    from automl_nas.records import RunResult

__all__ = ["TensorBoardTracker"]


class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, config: TensorBoardConfig | None = None) -> None:
        self.config = config or TensorBoardConfig()
        self.writer = None
        self.steps = 0

    def start(self, run: RunContext, groups: tuple[GroupSpec, ...]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(self.config.log_dir) if self.config.log_dir else Path(run.run_dir.path) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.steps = run.steps_per_epoch
        self.writer.add_text("run", f"{run.sampler_name} on {run.space_name}, recipe {run.recipe.name}, "
                                    f"{run.num_epochs} epochs x {run.steps_per_epoch} steps", run.start_epoch)

    def log_step(self, run: RunContext, epoch: int, step: int, metrics: dict[str, float]) -> None:
        global_step = logged_step(self.steps, epoch, step, self.config.step_every)
        if global_step is None:
            return
        for key, value in step_scalars(metrics).items():
            self.writer.add_scalar(key, value, global_step)

    def log_epoch(self, run: RunContext, view: EpochView) -> None:
        epoch = view.epoch
        for tag, value in {**view.scalars(), **view.edge_probs()}.items():
            self.writer.add_scalar(tag, value, epoch)
        for group, matrix in (view.arch.probs if view.arch else {}).items():
            if matrix:
                self.writer.add_image(f"alpha/{group}", alpha_image(matrix, self.config.cell_px), epoch, dataformats="HWC")
        self.writer.add_text("genotype", view.record.genotype, epoch)
        self.writer.flush()

    def finish(self, run: RunContext, record: RunResult) -> None:
        if self.writer is None:
            return
        self.writer.add_text("result", f"{record.status}: {record.genotype}", max(run.epoch, 0))
        self.writer.close()
        self.writer = None
