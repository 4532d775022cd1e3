"""The interfaces plugins implement, and the records that cross the seam between the
engine and a plugin. Importing this package imports no torch."""

from automl_nas.api.arch import ArchParams, ArchSample, EdgeWeights, Genotype, parse_genotype
from automl_nas.api.dataset import DatasetProvider, GraphBatch, GraphSet, ImageSet
from automl_nas.api.evaluator import EvalContext, Evaluator
from automl_nas.api.objective import LossContext, Objective
from automl_nas.api.run import RunContext
from automl_nas.api.sampler import (
    Proposer,
    Sampler,
    SpaceExhausted,
    StructureChanging,
    TemperatureSchedule,
    ValidationObserver,
    child_sample,
    child_samples,
    updates_arch,
)
from automl_nas.api.options import INPUT_FILE
from automl_nas.api.space import (
    SUPERNET_ONLY,
    GroupSpec,
    InputSpec,
    Morphism,
    OpPosition,
    SearchSpace,
    check_halvings,
    supernet_only_problem,
    supports_morphisms,
)
from automl_nas.api.tracker import EpochView, Tracker, logged_step, metric_key, step_scalars

__all__ = [
    "INPUT_FILE",
    "SUPERNET_ONLY",
    "ArchParams",
    "ArchSample",
    "DatasetProvider",
    "EdgeWeights",
    "EpochView",
    "EvalContext",
    "Evaluator",
    "Genotype",
    "GraphBatch",
    "GraphSet",
    "GroupSpec",
    "ImageSet",
    "InputSpec",
    "LossContext",
    "Morphism",
    "Objective",
    "OpPosition",
    "Proposer",
    "RunContext",
    "Sampler",
    "SearchSpace",
    "SpaceExhausted",
    "StructureChanging",
    "TemperatureSchedule",
    "Tracker",
    "ValidationObserver",
    "check_halvings",
    "child_sample",
    "child_samples",
    "metric_key",
    "step_scalars",
    "logged_step",
    "parse_genotype",
    "supernet_only_problem",
    "supports_morphisms",
    "updates_arch",
]
