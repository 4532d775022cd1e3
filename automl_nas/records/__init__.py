"""Run records: the run-directory layout, its atomic writes and the declared records written into it."""

from __future__ import annotations

from automl_nas.records.rundir import RunDir, atomic_write_bytes, atomic_write_json
from automl_nas.records.schema import SCHEMA_VERSION, ArchSnapshot, EpochRecord, ExpectedCheck, RunResult
from automl_nas.records.trial import Placement, TrialResult, TrialSpec

__all__ = ["SCHEMA_VERSION", "ArchSnapshot", "EpochRecord", "ExpectedCheck", "Placement", "RunDir", "RunResult", "TrialResult",
           "TrialSpec", "atomic_write_bytes", "atomic_write_json"]
