"""automl-nas used as a Python library: a search (or an evaluation) leaves the process as it
found it, writes nothing to standard output, and runs the checks the CLI runs."""

from __future__ import annotations

import contextlib
import io
import os

import torch

from automl_nas.testing import run_recipe
from tests.conftest import toy_recipe_text


def test_a_search_puts_back_torch_threads_generators_and_environment(tmp_path):
    """A second in-process search with run.threads = 0 ran on the first one's thread count, the
    user's later draws repeated the run's seed, and run.deterministic left CUBLAS_WORKSPACE_CONFIG
    in the environment."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    try:
        torch.manual_seed(1234)
        expected = torch.rand(3)
        torch.manual_seed(1234)
        text = toy_recipe_text(tmp_path / "runs").replace("threads = 1", "threads = 1\ndeterministic = true")
        assert run_recipe(tmp_path, text).result["status"] == "finished"
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.rand(3), expected)  # the generator continues where the caller left it
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    finally:
        torch.set_num_threads(threads)


def test_an_evaluation_context_logs_to_stderr_not_stdout():
    """EvalContext's log was ``print``: an evaluator called from Python wrote to stdout."""
    from automl_nas.api import EvalContext

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        EvalContext(space=None).log("retrain epoch 1/1")
    assert out.getvalue() == "" and err.getvalue() == "retrain epoch 1/1\n"


def test_an_epoch_end_hook_that_changes_its_metrics_does_not_change_the_records(tmp_path):
    """Lifecycle hooks observe a run: a hook writing into its ``metrics`` dict changed result.json's
    last_epoch (the engine's own record was handed out)."""
    import json

    from automl_nas.hookspecs import hookimpl

    class Scribbler:
        @hookimpl
        def automl_epoch_end(self, run, epoch, metrics, record):
            metrics["valid_acc"] = 999.0
            metrics["injected"] = True

    outcome = run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(Scribbler(), "scribbler")])
    last = json.loads((outcome.run_dir / "result.json").read_text())["last_epoch"]
    assert last["valid_acc"] == outcome.metrics[-1]["valid_acc"] != 999.0 and "injected" not in last
