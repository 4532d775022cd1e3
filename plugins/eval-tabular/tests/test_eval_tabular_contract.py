"""The host's EvaluatorContract on the lookup evaluators."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl_nas.api import EvalContext, Genotype
from automl_nas.testing.contracts import EvaluatorContract
from automl_nas_eval_tabular.analog import AnalogNasBench
from automl_nas_eval_tabular.config import TableConfig
from automl_nas_eval_tabular.table import Nb201Table

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


class _Common:
    @pytest.fixture
    def genotype(self):
        return Genotype("nb201", CELL)

    @pytest.fixture
    def eval_context(self):
        return EvalContext(space=None)


class TestTableContract(_Common, EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        return Nb201Table(TableConfig(path=str(Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "nb201-test-accuracy.csv")))


class TestAnalogContract(_Common, EvaluatorContract):
    @pytest.fixture
    def evaluator(self):
        return AnalogNasBench()
