"""One search across several processes (issue 15): 2 gloo ranks launched with torchrun take the
same steps as one process on the whole (concatenated) batch, and agree on the architecture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "ddp_worker.py"
K = 4


def _run(cmd, cwd):
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_gloo_ranks_equal_one_process_on_the_whole_batch(tmp_path):
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER),
          str(tmp_path), str(K)], tmp_path)
    _run([sys.executable, str(WORKER), str(tmp_path), str(K)], tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    single = torch.load(tmp_path / "single.pt")
    assert [r["world"] for r in ranks] == [2, 2] and single["world"] == 1
    # every rank holds the same architecture (identical updates from all-reduced gradients)
    for key, value in ranks[0]["arch"].items():
        assert torch.equal(value, ranks[1]["arch"][key])
    assert ranks[0]["genotype"] == ranks[1]["genotype"] == single["genotype"]
    # ... which is the one-process architecture on the concatenated batches, to float rounding
    for key, value in single["arch"].items():
        assert not torch.equal(value, torch.zeros_like(value))  # K steps really moved it (init is 0)
        torch.testing.assert_close(ranks[0]["arch"][key], value, rtol=1e-5, atol=1e-6)
    for key, value in single["net"].items():
        torch.testing.assert_close(ranks[1]["net"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_torchrun_with_a_run_directory_gives_rank_zero_the_directory_and_one_summary(tmp_path, make_toy_recipe):
    import json

    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "D"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "automl_nas.cli", "run", str(recipe), "-q", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # one JSON document: rank 0's
    assert summary["run_dir"] == str(run_dir) and summary["status"] == "finished"
    ranks = [json.loads((d / "result.json").read_text()) for d in (run_dir, tmp_path / "D-rank1")]
    assert ranks[0]["genotype"] == ranks[1]["genotype"]  # every rank holds the same architecture
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [0, 1]
