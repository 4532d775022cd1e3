"""Without a GPU the `cuda` tests are deselected and the summary says they were not run (issue 15)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only report; on a GPU machine the cuda tests run")
def test_cuda_tests_are_reported_as_not_run_on_a_cpu_only_machine():
    env = {k: v for k, v in os.environ.items() if k != "AUTOML_NAS_CUDA_TESTS"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                           str(REPO / "tests" / "test_cuda.py")], capture_output=True, text=True, cwd=REPO, env=env)
    assert proc.returncode == 5, proc.stdout[-2000:]  # "no tests collected": not green
    assert re.search(r"\b(\d+) deselected", proc.stdout) and "passed" not in proc.stdout
    assert "cuda tests not run" in proc.stdout and "NOT run: torch.cuda.is_available() is False" in proc.stdout
