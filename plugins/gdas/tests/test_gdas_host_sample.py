"""The GDAS sample carries k* on the host, equal to its device tensor (issue 8: one sync per sample)."""

from __future__ import annotations

import torch

from automl_nas_gdas.config import GdasConfig
from automl_nas_gdas.sampler import GdasSampler


def test_host_active_list_matches_the_sampled_index():
    s = GdasSampler(GdasConfig())
    torch.manual_seed(0)
    alpha = torch.randn(6, 5)
    for _ in range(20):
        w = s.sample({"cell": alpha}, phase="weights")["cell"]
        assert w.active_list() == w.active.tolist()
        assert w.active.tolist() == w.weights.detach().argmax(-1).tolist()


def test_redraw_still_happens_with_the_combined_check(monkeypatch):
    s = GdasSampler(GdasConfig())
    draws = iter([torch.full((6, 5), float("inf")), torch.zeros(6, 5)])
    monkeypatch.setattr(s, "gumbel", lambda like: next(draws))
    w = s.sample({"cell": torch.zeros(6, 5)}, phase="weights")["cell"]
    assert w.active_list() == [0] * 6  # the finite second draw (ties -> op 0)
