"""benchmarks/gpu_check.sh runs end to end on the CPU and writes its two summaries (issue 15).

The suite runs it with ``--smoke`` (every section, smallest settings: one step-time
configuration, 1-step searches on a tiny supernet, 1 vs 2 seed processes); ``--quick`` is the
few-minute CPU mode of the same code path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_smoke_writes_json_and_markdown(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(out), "--device", "cpu", "--smoke"],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"env", "cuda_tests", "step_time", "search", "seeds"}
    assert sections["env"]["torch"] and sections["env"]["device"] == "cpu"
    tests = sections["cuda_tests"]
    assert tests["dry_run_on_cpu"] and tests["tests"] >= 1 and tests["failures"] == tests["errors"] == 0
    (row,) = sections["step_time"]["rows"]
    assert row["config"] == "gdas-nb201" and row["ms_iter"] > 0 and row["peak_gb"] > 0 and not row["compiled"]
    for method in ("gdas", "drnas"):
        run = sections["search"]["runs"][method]
        assert run["steps_per_epoch"] == 1 and len(run["epoch_time_s"]) == 2
        assert run["projected_paper_search_min"] > 0 and run["genotype"].startswith("|")
    seeds = sections["seeds"]
    assert seeds["1"]["processes"] == 1 and seeds["2"]["images"] == 2 * 2 * 64 and seeds["throughput_ratio"] > 0
    md = (out / "gpu_check.md").read_text()
    assert "GPU figures of issue 15 are still to be measured" in md
    assert "| gdas-nb201 | off | no |" in md and "throughput ratio" in md
