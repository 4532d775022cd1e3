"""automl-nas: plugin-based neural architecture search.

The public surface: what plugins implement and import (``hookimpl``, ``Component``, the
interfaces and records re-exported here), the error tree, and plain-PyTorch access to found
models (``build_model``, ``load_model``). Public modules besides this one (the names listed in
:data:`PUBLIC_MODULES`; ``tests/test_architecture.py`` keeps every plugin to them):
:mod:`automl_nas.api` (interfaces), :mod:`automl_nas.nn` (supernet building blocks),
:mod:`automl_nas.testing` (kits), :mod:`automl_nas.errors`, :mod:`automl_nas.records` (run
directory, records, atomic writes), :mod:`automl_nas.schedules`, :mod:`automl_nas.costs`
(latency tables), :mod:`automl_nas.data` (image sets' batch loader), :mod:`automl_nas.readback`
(per-step device values read in one transfer, one step late on a GPU),
:mod:`automl_nas.benchstore` (benchmark tables: the store and the table interface),
:mod:`automl_nas.tracking.images` (the α matrix as an image, for tracker plugins),
:mod:`automl_nas.safe_pickle` (pickles read without running their code),
:mod:`automl_nas.datafetch` (data sets downloaded once into a cache that trials share) and
:mod:`automl_nas.devices`. Everything else (engine, session internals, executors, study
driver, CLI) is internal and may change between versions.

Importing this package registers nothing and imports no torch.
"""

from __future__ import annotations

from automl_nas.api import (
    DatasetProvider,
    EdgeWeights,
    EpochView,
    EvalContext,
    Evaluator,
    Genotype,
    GraphSet,
    GroupSpec,
    ImageSet,
    InputSpec,
    LossContext,
    Objective,
    Proposer,
    RunContext,
    Sampler,
    SearchSpace,
    StructureChanging,
    TemperatureSchedule,
    Tracker,
    ValidationObserver,
)
from automl_nas.devices import resolve_device
from automl_nas.errors import AutomlError, DataError, PluginError, RecipeError, RunError
from automl_nas.hookspecs import PROJECT, hookimpl, hookspec
from automl_nas.models import build_model, load_model
from automl_nas.records.schema import EpochRecord, RunResult
from automl_nas.registry import Component
from automl_nas.session import Session, open_session

__version__ = "0.2.0"

#: Host modules a plugin may import (with their submodules).
PUBLIC_MODULES = ("automl_nas", "automl_nas.api", "automl_nas.nn", "automl_nas.testing", "automl_nas.errors",
                  "automl_nas.records", "automl_nas.schedules", "automl_nas.costs", "automl_nas.data",
                  "automl_nas.devices", "automl_nas.hookspecs", "automl_nas.registry", "automl_nas.benchstore",
                  "automl_nas.tracking.images", "automl_nas.safe_pickle", "automl_nas.readback",
                  "automl_nas.datafetch")

__all__ = [
    "PROJECT",
    "PUBLIC_MODULES",
    "AutomlError",
    "Component",
    "DataError",
    "DatasetProvider",
    "EdgeWeights",
    "EpochRecord",
    "EpochView",
    "EvalContext",
    "Evaluator",
    "Genotype",
    "GraphSet",
    "ImageSet",
    "GroupSpec",
    "InputSpec",
    "LossContext",
    "Objective",
    "PluginError",
    "Proposer",
    "RecipeError",
    "RunContext",
    "RunError",
    "RunResult",
    "Sampler",
    "SearchSpace",
    "Session",
    "StructureChanging",
    "TemperatureSchedule",
    "Tracker",
    "ValidationObserver",
    "__version__",
    "build_model",
    "hookimpl",
    "hookspec",
    "load_model",
    "open_session",
    "resolve_device",
]
