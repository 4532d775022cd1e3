"""The evaluation recipe: one genotype, its space, the data and the evaluator (``automl eval FILE``).

``automl export`` writes one as ``retrain.toml``; ``automl eval`` also builds one from a run
directory or a bare genotype string, so every way in is checked by the same converter and
reports bad keys as ``retrain.toml: evaluator.epoch: unknown key; did you mean 'epochs'?``.
Light: no torch, no plugin code.
"""

from __future__ import annotations


import attrs
from attrs import validators as v

from automl_nas.devices import device_option
from automl_nas.recipe.model import ComponentRef

__all__ = ["EVAL_RECIPE_KEYS", "EvalRecipe", "EvalRunConfig"]


@attrs.frozen(kw_only=True)
class EvalRunConfig:
    root: str = attrs.field(default="runs", metadata={"help": "parent of the default work directory eval-<name>"})
    dir: str = attrs.field(default="", metadata={"help": "work directory (checkpoints, eval-<evaluator>.json); '' = <root>/eval-<name>"})
    device: str = attrs.field(default="auto", validator=device_option, metadata={"help": "auto, cpu, mps, cuda, cuda:N"})
    threads: int = attrs.field(default=0, validator=v.ge(0), metadata={"help": "torch CPU threads (0: torch default)"})


@attrs.frozen(kw_only=True)
class EvalRecipe:
    """A genotype and how to evaluate it.

    ``space`` and ``data`` are component tables like a search recipe's (``[space] name = "nb201"
    channels = 16``); ``evaluator`` names the evaluator and carries its options; ``source`` records
    the run the genotype came from.
    """

    name: str
    description: str = ""
    genotype: str
    seed: int = attrs.field(default=0, validator=v.ge(0))
    space: ComponentRef
    data: ComponentRef | None = None
    evaluator: ComponentRef
    run: EvalRunConfig = attrs.field(factory=EvalRunConfig)
    source: str = ""


EVAL_RECIPE_KEYS = tuple(f.name for f in attrs.fields(EvalRecipe))
