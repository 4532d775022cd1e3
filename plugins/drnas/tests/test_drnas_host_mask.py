"""DrNAS hands its pruning mask to the mixed ops as host lists, kept in step with the mask (issue 8)."""

from __future__ import annotations

import torch

from automl_nas_drnas.config import DrnasConfig
from automl_nas_drnas.sampler import DrnasSampler


def test_host_mask_follows_pruning():
    s = DrnasSampler(DrnasConfig())
    eta = torch.tensor([[0.1, 0.5, -0.2, 0.3, 0.0]] * 6)
    assert s.sample({"cell": eta}, phase="weights")["cell"].mask_list() is None
    s.prune({"cell": eta}, keep=3)
    w = s.sample({"cell": eta}, phase="weights")["cell"]
    assert w.mask_list() == w.mask.tolist() == [[True, True, False, True, False]] * 6
    s.prune({"cell": eta}, keep=2)  # a new mask object: the host copy is recomputed
    w = s.sample({"cell": eta}, phase="weights")["cell"]
    assert w.mask_list() == w.mask.tolist() == [[False, True, False, True, False]] * 6
