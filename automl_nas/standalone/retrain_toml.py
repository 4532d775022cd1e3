"""The ``retrain.toml`` that ``automl export`` writes: an evaluation recipe for ``automl eval``."""

from __future__ import annotations

from typing import Any

from automl_nas.standalone.target import EvalPlan

__all__ = ["QUICK_PROFILE", "RETRAIN_EVALUATOR", "retrain_recipe_text"]

RETRAIN_EVALUATOR = "retrain"
# A smoke run of the recipe: one epoch on 256 images, the network at full size.
QUICK_PROFILE = {"evaluator.epochs": 1, "evaluator.train_limit": 256}

_HEADER = """\
# Retrain this genotype from scratch (written by `automl export`).
#
#   automl eval retrain.toml                    the paper protocol of the space (preset "auto":
#                                               nb201 200 epochs, C=16 N=5; darts 600 epochs,
#                                               C=36, 20 cells, auxiliary head, cutout, drop-path)
#   automl eval retrain.toml --profile quick    a 1-epoch smoke run on 256 images
#   automl eval retrain.toml --set epochs=50 --set run.device=cuda
#
# [evaluator] takes every option of `automl plugins --options retrain`; `network = {...}`
# changes the trained network's sizes. Metrics and per-epoch checkpoints go to
# runs/eval-<name>/ (or run.dir); running the same command again resumes an interrupted run.
"""


def retrain_recipe_text(plan: EvalPlan, *, space_options: dict[str, Any], data: dict[str, Any],
                        note: str = "") -> str:
    """TOML text of the evaluation recipe that retrains ``plan``'s genotype; ``note``: a comment
    line above its tables (what the reader must change before running it)."""
    import tomli_w

    recipe = plan.recipe
    evaluator = {"name": RETRAIN_EVALUATOR}
    if recipe.evaluator.name == RETRAIN_EVALUATOR:  # keep options the user already chose
        evaluator.update(recipe.evaluator.options)
        # from scratch, as the header says: a morphism search's warm start looks for trained parents
        # in its own run records, which a retraining of the exported genotype does not have
        evaluator.pop("warm_start", None)
        evaluator.pop("warm_start_edits", None)
    body = {
        "name": recipe.name if recipe.name.startswith("retrain-") else f"retrain-{recipe.name}",
        "genotype": recipe.genotype,
        "seed": recipe.seed,
        "source": recipe.source,
        "space": {"name": plan.space.component.name, **_no_none(space_options)},
        "data": _no_none(data),
        "evaluator": _no_none(evaluator),
        "run": {"device": recipe.run.device},
        "profile": {"quick": dict(QUICK_PROFILE)},
    }
    if not body["source"]:
        del body["source"]
    return _HEADER + (f"#\n# NOTE: {note}\n" if note else "") + "\n" + tomli_w.dumps(body)


def _no_none(table: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: unset options are left out (they take their defaults again)."""
    return {k: (_no_none(v) if isinstance(v, dict) else v) for k, v in table.items() if v is not None}
