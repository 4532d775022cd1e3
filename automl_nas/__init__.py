"""automl-nas: plugin-based neural architecture search.

The public surface: what plugins implement and import (``hookimpl``, ``Component``, the
interfaces and records re-exported here), the error tree, and plain-PyTorch access to found
models (``build_model``, ``load_model``). Everything else is internal: the engine, the
session, the executors and the CLI may change between versions. Supernet building blocks are
public in :mod:`automl_nas.nn`, test kits in :mod:`automl_nas.testing`.

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
    GroupSpec,
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

__all__ = [
    "PROJECT",
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
