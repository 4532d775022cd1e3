"""Registration only: descriptors with light config classes; no torch import here."""

from __future__ import annotations

import attrs

from automl_nas import Component, hookimpl


@attrs.frozen(kw_only=True)
class ToySpaceConfig:
    channels: int = attrs.field(default=4, validator=attrs.validators.gt(0), metadata={"help": "stem channels"})


@attrs.frozen(kw_only=True)
class ToyDataConfig:
    count: int = attrs.field(default=96, validator=attrs.validators.gt(7), metadata={"help": "number of generated images"})
    seed: int = attrs.field(default=0, metadata={"help": "generator seed"})


@hookimpl
def automl_register_search_spaces():
    return [Component(kind="search_space", name="toy", impl="automl_nas_toy.space:ToySpace", config=ToySpaceConfig,
                      summary="3-edge toy cell over none/skip/conv/pool")]


@hookimpl
def automl_register_samplers():
    return [Component(kind="sampler", name="toy-softmax", impl="automl_nas_toy.space:SoftmaxSampler",
                      summary="softmax relaxation (DARTS-like), written by an outsider")]


@hookimpl
def automl_register_datasets():
    return [Component(kind="dataset", name="toy-blobs", impl="automl_nas_toy.space:Blobs", config=ToyDataConfig,
                      summary="generated 1x8x8 images whose mean encodes the class")]


@hookimpl
def automl_register_evaluators():
    return [Component(kind="evaluator", name="toy-count", impl="automl_nas_toy.space:CountConvs",
                      summary="score = number of conv edges (a lookup-like evaluator)")]


@hookimpl
def automl_parse_genotype(text):
    from automl_nas.api import Genotype

    return Genotype("toy", text) if text.startswith("toy:") else None


@hookimpl
def automl_epoch_end(run, epoch, metrics):
    """Fault injection for the tests: a file ``die-once-at-epoch-N`` next to the run
    directory makes this worker process die (no cleanup, like a lost node) after epoch N;
    ``lose-disk-and-die-once-at-epoch-N`` also deletes the run's checkpoints first (the node's
    disk is gone with it: only a copy kept elsewhere can resume the run)."""
    import os
    import shutil
    from pathlib import Path

    parent = Path(run.run_dir.path).parent
    lose = parent / f"lose-disk-and-die-once-at-epoch-{epoch}"
    if lose.exists():
        lose.unlink()
        shutil.rmtree(Path(run.run_dir.path) / "checkpoints")
        os._exit(1)
    marker = parent / f"die-once-at-epoch-{epoch}"
    if marker.exists():
        marker.unlink()
        os._exit(1)


@hookimpl
def automl_register_benchmarks():
    return [Component(kind="benchmark", name="toy-table", impl="automl_nas_toy.tables:ToyTable",
                      summary="toy genotype -> score table, imported from a two-column CSV")]
