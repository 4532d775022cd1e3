"""Batch norm over the global batch in a data-parallel step (issue 15): two gloo processes, each
holding half of a batch, get exactly what one process gets on the whole batch: the output rows,
the input gradient rows, the weight gradients summed over the processes, second derivatives
(second-order DARTS differentiates through the first) and the running statistics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from automl_nas.nn.synced_batch_norm import GlobalBatchStatistics, active
from automl_nas.testing import script_fixture, torchrun_command

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "synced_bn_worker.py"
worker = script_fixture(WORKER)

ROWS = ("y", "grad_x", "second_x")  # per example: the ranks' halves, concatenated
SUMMED = ("grad_weight", "grad_bias", "second_weight")  # per parameter: the ranks' shares add up
SHARED = ("running_mean", "running_var")  # the same on every rank


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("synced-bn")
    proc = subprocess.run([*torchrun_command(2), str(WORKER), str(out)], capture_output=True, text=True, cwd=out,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", ["image", "vector", "image-plain"])
def test_two_processes_normalise_and_differentiate_as_one_process_on_the_whole_batch(ranks, worker, name):
    whole = worker.batches()[name]
    single = worker.derivatives(whole, 0, len(whole["x"]))
    halves = [torch.load(ranks / f"{name}-rank{r}.pt") for r in (0, 1)]
    assert halves[0].keys() == single.keys()
    for key, expected in single.items():
        if key in ROWS:
            got = torch.cat([h[key] for h in halves])
        elif key in SUMMED:
            got = halves[0][key] + halves[1][key]
        else:
            assert key in SHARED and torch.equal(halves[0][key], halves[1][key]), key
            got = halves[0][key]
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10, msg=key)
    # ... and per-half statistics would not have been (the check can fail)
    local = worker.derivatives(whole, 0, len(whole["x"]) // 2)
    assert not torch.allclose(local["y"], single["y"][: len(local["y"])], atol=1e-3)


def test_outside_a_process_group_the_mode_changes_nothing_it_is_not_asked_to():
    """Evaluation-mode calls and every other op pass through untouched; only training-mode batch
    norm is routed to the reduction, which here sums one process's contribution (the identity)."""
    calls = []
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    mean, var = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    with GlobalBatchStatistics(lambda t: calls.append(t.numel()) or t) as mode:
        assert active() is mode
        evaluated = F.batch_norm(x, mean, var, training=False)
        trained = F.batch_norm(x, None, None, training=True, eps=1e-5)
        relu = torch.relu(x)
    assert active() is None
    assert calls == [1 + 2 * 3]  # one reduction (count, sums, squared sums) for the one training call
    torch.testing.assert_close(evaluated, F.batch_norm(x, mean, var, training=False))
    torch.testing.assert_close(trained, F.batch_norm(x, None, None, training=True, eps=1e-5), rtol=1e-12, atol=1e-12)
    assert torch.equal(relu, torch.relu(x))
