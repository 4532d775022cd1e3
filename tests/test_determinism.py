"""``run.deterministic`` (issue 15): deterministic kernels for the run's life, restored after."""

from __future__ import annotations

import pytest
import torch

from automl_nas import hookimpl
from automl_nas.determinism import CUBLAS_WORKSPACE, deterministic_kernels


def _flags() -> tuple[bool, bool, bool]:
    return torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark


def test_the_block_runs_with_deterministic_kernels_and_restores_the_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _flags()
    with deterministic_kernels(True):
        assert _flags() == (True, True, False) and torch.is_deterministic_algorithms_warn_only_enabled()
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert _flags() == before
    with deterministic_kernels(False):
        assert _flags() == before


def test_a_workspace_the_environment_chose_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic_kernels(True):
        import os

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


class _SeeKernels:
    def __init__(self) -> None:
        self.seen: list[bool] = []

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics):
        self.seen.append(torch.are_deterministic_algorithms_enabled())


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_searches_with_the_option_s_kernels(make_toy_recipe, enabled):
    from automl_nas.session import run_recipe_file

    spy = _SeeKernels()
    result = run_recipe_file(make_toy_recipe(count=32), quiet=True, extra_plugins=[(spy, "spy")],
                             overrides=[f"run.deterministic={str(enabled).lower()}", "search.epochs=2"])
    assert result["status"] == "finished" and spy.seen == [enabled, enabled]
    assert not torch.are_deterministic_algorithms_enabled()
