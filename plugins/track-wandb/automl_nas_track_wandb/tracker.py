"""The W&B tracker: one W&B run per search run, written to ``<run dir>/wandb/``.

Offline unless told otherwise (``mode`` or ``$WANDB_MODE``): a search never needs an account
or the network, and ``wandb sync <run dir>/wandb/offline-run-*`` uploads the run later.
Epoch charts use ``epoch`` as their x axis and step charts ``global_step``
(``define_metric``). What is logged: every scalar of :meth:`automl_nas.api.EpochView.scalars`,
every op probability (``probs.<group>.<edge>/<op>``), the α matrix per group as an image
(``alpha/<group>``), the genotype per epoch in a table (``genotypes``) and in the summary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from automl_nas.api import EpochView, Tracker, logged_step, step_scalars
from automl_nas.tracking.images import alpha_image, flat_recipe

from automl_nas_track_wandb.hooks import WandbConfig

if TYPE_CHECKING:
    from automl_nas.api import GroupSpec, RunContext
    from automl_nas.records import RunResult

__all__ = ["WandbTracker"]


def _new_id() -> str:
    import secrets

    return secrets.token_hex(4)  # W&B's own ids are 8 characters too


class WandbTracker(Tracker):
    name = "wandb"

    def __init__(self, config: WandbConfig | None = None) -> None:
        self.config = config or WandbConfig()
        self.run = None
        self.steps = 0
        self.genotypes: list[list] = []

    def start(self, run: RunContext, groups: tuple[GroupSpec, ...]) -> None:
        import wandb

        mode = self.config.mode or os.environ.get("WANDB_MODE") or "offline"
        settings = wandb.Settings(mode=mode, console="off", silent=True, x_disable_stats=True, disable_git=True,
                                  save_code=False)
        rd = Path(run.run_dir.path)
        # A resumed search goes on in its W&B run (id kept in the run directory): it made a second run.
        id_file = rd / "wandb" / "automl-run-id"
        known = id_file.read_text(encoding="utf-8").strip() if run.start_epoch and id_file.is_file() else ""
        run_id = known or _new_id()
        self.run = wandb.init(project=self.config.project or os.environ.get("WANDB_PROJECT") or run.recipe.name,
                              name=rd.name, dir=str(rd), config=flat_recipe(run.recipe), job_type="search",
                              settings=settings, reinit="create_new", id=run_id, resume="allow")
        if not known:
            from automl_nas.records.rundir import atomic_write_bytes

            atomic_write_bytes(id_file, run_id.encode())
        self.run.define_metric("global_step")
        self.run.define_metric("step/*", step_metric="global_step")
        self.run.define_metric("epoch")
        # W&B globs match suffixes only ("acc/*", "probs.*"): one per scalar family of EpochView.
        for name in ("loss/*", "acc/*", "lr", "sampler/*", "entropy/*", "collapse/*", "time/*", "eval/*", "hessian/*",
                     "probs.*", "alpha/*"):
            self.run.define_metric(name, step_metric="epoch")
        self.steps = run.steps_per_epoch

    def log_step(self, run: RunContext, epoch: int, step: int, metrics: dict[str, float]) -> None:
        global_step = logged_step(self.steps, epoch, step, self.config.step_every)
        if global_step is not None:
            self.run.log({**step_scalars(metrics), "global_step": global_step})

    def log_epoch(self, run: RunContext, view: EpochView) -> None:
        import wandb

        # epoch 0-based, as TensorBoard's and MLflow's steps and metrics.jsonl count it
        row = {**view.scalars(), **view.edge_probs(), "epoch": view.epoch}
        for group, matrix in (view.arch.probs if view.arch else {}).items():
            if matrix:
                row[f"alpha/{group}"] = wandb.Image(alpha_image(matrix), caption=f"epoch {view.epoch}: rows edges, columns ops")
        self.genotypes.append([view.epoch, view.record.genotype])
        self.run.log(row)
        self.run.summary["genotype"] = view.record.genotype

    def abort(self) -> None:
        if self.run is not None:
            self.run.finish(exit_code=1)
            self.run = None

    def finish(self, run: RunContext, record: RunResult) -> None:
        import wandb

        if self.run is None:
            return
        self.run.log({"genotypes": wandb.Table(columns=["epoch", "genotype"], data=self.genotypes)})
        self.run.summary["status"] = record.status
        self.run.finish(exit_code=0 if record.status == "finished" else 1)
        self.run = None
