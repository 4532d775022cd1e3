"""Optuna studies over recipes and black-box NAS loops (issue 6)."""

from __future__ import annotations

__all__ = ["run_study", "run_blackbox"]


def __getattr__(name: str):
    # Lazy: `import automl_nas.study` must not import optuna, ray or torch.
    if name == "run_study":
        from automl_nas.study.driver import run_study

        return run_study
    if name == "run_blackbox":
        from automl_nas.study.blackbox import run_blackbox

        return run_blackbox
    raise AttributeError(name)
