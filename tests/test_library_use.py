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


NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


class _Aliases:
    """A third-party parser: ``nb201:<cell>`` is the nb201 cell; ``boom`` breaks it; ``str`` is answered wrongly."""

    from automl_nas.hookspecs import hookimpl

    @hookimpl
    def automl_parse_genotype(self, text):
        from automl_nas.api import Genotype

        if text == "boom":
            raise ValueError("aliasplug parser broke")
        if text == "str":
            return "nb201"
        return Genotype("nb201", text[len("nb201:"):]) if text.startswith("nb201:") else None


def test_a_parse_genotype_answer_is_used_and_a_failing_parser_is_named():
    """The host took only the answer's space and parsed the user's text again, so another spelling
    was refused; a parser that raised (or answered a str) was an internal error naming no plugin."""
    import pytest

    from automl_nas.errors import PluginError
    from automl_nas.session import open_session
    from automl_nas.standalone.target import plan_target

    session = open_session([(_Aliases(), "aliasplug")])

    def plan(text):
        return plan_target({"genotype": text, "evaluator": "retrain"}, "command line", registry=session.registry,
                           pm=session.pm)

    planned = plan("nb201:" + NB201_CELL)
    assert planned.recipe.genotype == NB201_CELL and planned.space.component.name == "nb201"
    assert plan(NB201_CELL).recipe.genotype == NB201_CELL  # the space's own parser still answers its text
    with pytest.raises(PluginError, match="plugin 'aliasplug'") as raised:
        plan("boom")
    assert "aliasplug parser broke" in str(raised.value) and "AUTOML_NAS_DISABLE_PLUGINS=aliasplug" in raised.value.hint
    with pytest.raises(PluginError, match=r"hook automl_parse_genotype of plugin 'aliasplug' .*returned str 'nb201', "
                                          r"not an automl_nas.api.Genotype or None"):
        plan("str")


def test_build_model_without_a_seed_draws_fresh_weights():
    """``seed=None`` gave the same weights on every call: the caller's generator was rewound."""
    from automl_nas import build_model

    first, second = (build_model(NB201_CELL, seed=None).state_dict() for _ in range(2))
    assert any(not torch.equal(first[k], second[k]) for k in first if first[k].is_floating_point())
    seeded = [build_model(NB201_CELL, seed=3).state_dict() for _ in range(2)]
    assert all(torch.equal(seeded[0][k], seeded[1][k]) for k in seeded[0])


def test_session_execute_checks_the_evaluator_before_the_search(tmp_path, empty_automl_home):
    """plan() then execute() ran the whole search and only then found the table missing (the
    checks ran in the CLI's paths only)."""
    import pytest

    from automl_nas.errors import DataError
    from automl_nas.session import open_session
    from tests.conftest import REPO

    session = open_session()
    plan = session.plan(REPO / "recipes" / "snas.toml", profile="quick",
                        overrides=[f"run.root={str(tmp_path / 'runs')!r}", "evaluator.name='nb201-table'"])
    with pytest.raises(DataError, match="nb201-table: the NAS-Bench-201 table is not installed"):
        session.execute(plan, quiet=True)
    assert not (tmp_path / "runs").exists()


def test_an_unknown_table_metric_lists_every_column_of_the_installed_table(installed_nb201):
    """The installed (Parquet) table is read for the wanted columns only, and the fix listed
    those: ['cifar10'] for metrics = ["cifar10", "nope"]."""
    import pytest

    from automl_nas.errors import RecipeError
    from automl_nas.recipe.converter import structure
    from automl_nas.session import open_session

    session = open_session()
    config = structure({"metrics": ["cifar10", "nope"]}, session.registry.get("evaluator", "nb201-table").config,
                       source="test", prefix="evaluator")
    table = session.registry.create("evaluator", "nb201-table", config)
    space = session.registry.create("search_space", "nb201")
    with pytest.raises(RecipeError, match=r"has no column\(s\) \['nope'\]") as raised:
        table.evaluate(space.parse(NB201_CELL))
    assert "among ['cifar10', 'cifar100', 'ImageNet16-120']" in raised.value.hint


def test_python_callers_get_errors_in_python_terms(tmp_path):
    """build_model's errors named the recipe, `--set` and `--space`; a dict of inputs was an
    AttributeError; one override string was read one character at a time."""
    import pytest

    from automl_nas import build_model
    from automl_nas.errors import RecipeError
    from automl_nas.session import open_session
    from tests.conftest import REPO

    with pytest.raises(RecipeError, match="space.chanels: unknown key") as raised:
        build_model(NB201_CELL, chanels=8)
    assert "pass the keyword arguments the space takes (`automl plugins --options nb201`" in raised.value.hint
    with pytest.raises(RecipeError) as raised:
        build_model("|foo~0|")
    assert "--space" not in raised.value.hint and "build_model(..., space=NAME)" in raised.value.hint
    assert "run directory" not in raised.value.message
    net = build_model(NB201_CELL, inputs={"channels": 1, "height": 16, "width": 16, "num_classes": 3})
    assert net.eval()(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(RecipeError, match="build_model: inputs: .*unexpected keyword argument 'colour'"):
        build_model(NB201_CELL, inputs={"colour": 3})
    with pytest.raises(TypeError, match=r"overrides=\['search.epochs=1'\]"):
        open_session().plan(REPO / "recipes" / "snas.toml", overrides="search.epochs=1")


def test_a_gpu_machine_s_cuda_generators_get_back_the_seed_they_had(tmp_path, monkeypatch):
    """CUDA generators not started yet were left with the run's seed queued (the review read it:
    a user's CUDA draws after a search repeated the run's seed), then with the CPU's initial seed
    (a seed given to CUDA alone, ``torch.cuda.manual_seed``, was lost); starting CUDA to save their
    state would cost a CPU run on a GPU machine seconds and memory."""
    from automl_nas.process_state import kept_process_state

    tracker = torch.cuda._lazy_seed_tracker  # the seed calls torch queues until CUDA starts
    kept = (tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order))

    def seeds():  # the queued calls' seeds, in the order CUDA would run them
        return [next(c.cell_contents for c in cb.__closure__ if isinstance(c.cell_contents, int))
                for cb, _stack in filter(None, tracker.call_order)]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    try:
        torch.manual_seed(4321)
        torch.cuda.manual_seed(99)  # the user's, for CUDA alone (queued after torch.manual_seed's)
        assert seeds() == [4321, 99]
        with kept_process_state():
            torch.manual_seed(7)  # what a search does first
            assert seeds()[-1] == 7
        assert seeds() == [4321, 99] and torch.initial_seed() == 4321
        tracker.manual_seed_all_cb, tracker.manual_seed_cb, tracker.call_order = None, None, []
        with kept_process_state():  # nothing queued: CUDA starts from its default seed, as before
            torch.manual_seed(7)
        assert seeds() == []
    finally:
        tracker.manual_seed_all_cb, tracker.manual_seed_cb, tracker.call_order = kept


def test_a_run_stopped_in_its_first_epoch_does_not_say_after_epoch_0(tmp_path):
    """"stopped by SIGTERM after epoch 0" read as if an epoch had finished."""
    import pytest

    from automl_nas.errors import Interrupted
    from automl_nas.hookspecs import hookimpl

    class StopAtOnce:
        @hookimpl
        def automl_step_end(self, run, epoch, step, metrics):
            run.request_stop("a test plugin")

    with pytest.raises(Interrupted, match="stopped by a test plugin in its first epoch"):
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(StopAtOnce(), "stopper")])


def test_scoring_along_the_way_leaves_the_search_as_it_is(tmp_path, monkeypatch):
    """search.eval_every is no protocol change (the paper band's verdict stays): an evaluator that
    draws from the global generator must not shift a sampling method's later samples."""
    from automl_nas.session import open_session
    from automl_nas_eval_tabular.analog import AnalogNasBench
    from tests.conftest import REPO

    def search(name, *extra):
        session = open_session()
        plan = session.plan(REPO / "recipes" / "gdas.toml", profile="quick",
                            overrides=["search.epochs=3", "search.steps_per_epoch=3", "search.valid_batches=1",
                                       f"run.root={str(tmp_path / name)!r}", *extra])
        return session.execute(plan, quiet=True)

    plain = search("plain")
    real = AnalogNasBench.evaluate

    def drawing(self, genotype, ctx=None):  # an evaluator's hidden use of the global generator
        torch.rand(1000)
        return real(self, genotype, ctx)

    monkeypatch.setattr(AnalogNasBench, "evaluate", drawing)
    scored = search("scored", "search.eval_every=1")
    assert scored["last_epoch"]["train_loss"] == plain["last_epoch"]["train_loss"]
    assert scored["genotype"] == plain["genotype"]
