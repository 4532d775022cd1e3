"""The interfaces plugins implement."""

from automl_nas.api.arch import ArchParams, ArchSample, EdgeWeights, Genotype, parse_genotype
from automl_nas.api.dataset import DatasetProvider, GraphBatch, GraphSet, ImageSet
from automl_nas.api.evaluator import EvalContext, Evaluator
from automl_nas.api.objective import LossContext, Objective
from automl_nas.api.sampler import Proposer, Sampler
from automl_nas.api.space import GroupSpec, InputSpec, SearchSpace

__all__ = [
    "ArchParams",
    "ArchSample",
    "DatasetProvider",
    "EdgeWeights",
    "EvalContext",
    "Evaluator",
    "Genotype",
    "GraphBatch",
    "GraphSet",
    "GroupSpec",
    "ImageSet",
    "InputSpec",
    "LossContext",
    "Objective",
    "Proposer",
    "Sampler",
    "SearchSpace",
    "parse_genotype",
]
