"""One test per hook (``test_hook_<name>``; the meta-test below keeps it so), each asserting
what the hook receives, and the lifecycle order of a run with an independently computed count."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from automl_nas import hookimpl, hookspecs
from automl_nas.api import RunContext
from automl_nas.records import SCHEMA_VERSION, EpochRecord, RunResult

STEPS, EPOCHS = 3, 2


class Recorder:
    """A lifecycle plugin that keeps what each hook was handed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    @hookimpl
    def automl_run_start(self, run):
        self.calls.append(("automl_run_start", {"run": run, "start_epoch": run.start_epoch}))

    @hookimpl
    def automl_step_end(self, run, epoch, step, metrics):
        self.calls.append(("automl_step_end", {"epoch": epoch, "step": step, "metrics": metrics}))

    @hookimpl
    def automl_epoch_end(self, run, epoch, metrics, record):
        self.calls.append(("automl_epoch_end", {"epoch": epoch, "metrics": metrics, "record": record, "run_epoch": run.epoch}))

    @hookimpl
    def automl_run_end(self, run, result, record):
        self.calls.append(("automl_run_end", {"result": result, "record": record}))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from automl_nas.testing import run_recipe
    from tests.conftest import TOY_RECIPE

    recorder = Recorder()
    tmp = tmp_path_factory.mktemp("hooks")
    outcome = run_recipe(tmp, TOY_RECIPE.format(data_extra=""), plugins=[(recorder, "recorder")],
                         overrides=[f"search.steps_per_epoch={STEPS}", f"search.epochs={EPOCHS}"])
    return outcome, recorder.calls


def _of(calls, name):
    return [kw for n, kw in calls if n == name]


def test_every_hook_has_a_test():
    names = [n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("automl_")]
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    missing = [n for n in names if not re.search(rf"def test_hook_{n}\b", tests)]
    assert len(names) >= 12 and not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_hook_order_of_a_run(recorded):
    outcome, _ = recorded
    lifecycle = [c for c in outcome.hook_calls if c.startswith(("automl_run", "automl_step", "automl_epoch"))]
    # STEPS and EPOCHS come from the recipe overrides, not from the observed calls.
    expected = ["automl_run_start"] + (["automl_step_end"] * STEPS + ["automl_epoch_end"]) * EPOCHS + ["automl_run_end"]
    assert lifecycle == expected


def test_hook_automl_run_start(recorded):
    (call,) = _of(recorded[1], "automl_run_start")
    run = call["run"]
    assert isinstance(run, RunContext) and call["start_epoch"] == 0
    assert run.num_epochs == EPOCHS and run.steps_per_epoch == STEPS and run.sampler_name == "toy-softmax"
    assert set(run.params) == {"cell"} and run.arch_optimizer is not None
    with pytest.raises(AttributeError):
        run.weight_optimizer = None  # changed only through replace_weight_optimizer


def test_hook_automl_step_end(recorded):
    calls = _of(recorded[1], "automl_step_end")
    assert [(c["epoch"], c["step"]) for c in calls] == [(e, s) for e in range(EPOCHS) for s in range(STEPS)]
    assert all(set(c["metrics"]) == {"loss", "acc", "lr", "steps"} and c["metrics"]["steps"] == STEPS for c in calls)


def test_hook_automl_epoch_end(recorded):
    outcome, calls = recorded
    epochs = _of(calls, "automl_epoch_end")
    lines = [json.loads(x) for x in (outcome.run_dir / "metrics.jsonl").read_text().splitlines()]
    for call, line in zip(epochs, lines, strict=True):
        assert isinstance(call["record"], EpochRecord) and call["record"].to_json() == call["metrics"] == line
        assert call["run_epoch"] == call["epoch"] == line["epoch"] and line["schema_version"] == SCHEMA_VERSION
        assert EpochRecord.from_json(line) == call["record"]


def test_hook_automl_run_end(recorded):
    outcome, calls = recorded
    (call,) = _of(calls, "automl_run_end")
    on_disk = json.loads((outcome.run_dir / "result.json").read_text())
    assert isinstance(call["record"], RunResult) and call["result"] == on_disk == call["record"].to_json()
    assert on_disk["status"] == "finished" and on_disk["schema_version"] == SCHEMA_VERSION


def test_hook_automl_register_search_spaces(registry):
    assert {"nb201", "darts", "toy"} <= set(registry.names("search_space"))
    assert registry.get("search_space", "toy").dist.startswith("automl-nas-toy")


def test_hook_automl_register_samplers(registry):
    assert {"darts", "snas", "gdas", "drnas", "uniform", "toy-softmax"} <= set(registry.names("sampler"))


def test_hook_automl_register_proposers(registry):
    assert {"random", "rea", "reinforce", "tpe"} <= set(registry.names("proposer"))


def test_hook_automl_register_objectives(registry):
    assert {"cross_entropy", "snas_resource"} <= set(registry.names("objective"))
    assert registry.get("objective", "cross_entropy").plugin == "objectives"  # a built-in, through the same door


def test_hook_automl_register_evaluators(registry):
    assert {"nb201-table", "retrain", "naswot", "toy-count"} <= set(registry.names("evaluator"))


def test_hook_automl_register_datasets(registry):
    assert {"cifar10", "npz", "digits", "toy-blobs"} <= set(registry.names("dataset"))


def test_hook_automl_parse_genotype(pm):
    assert pm.hook.automl_parse_genotype(text="toy:none,skip_connect,conv_3x3").space == "toy"
    assert pm.hook.automl_parse_genotype(text="|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|").space == "nb201"
    assert pm.hook.automl_parse_genotype(text="certainly not a genotype") is None


def test_hook_automl_trial_end(tmp_path, monkeypatch, make_toy_recipe):
    from automl_nas import session
    from automl_nas.execution.trials import run_seed_trials
    from automl_nas.records import TrialSpec

    seen = []

    class TrialRecorder:
        @hookimpl
        def automl_trial_end(self, trial, result):
            seen.append((trial, result))

    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(TrialRecorder(), "trial-recorder")]))
    recipe = make_toy_recipe(count=32)
    out = run_seed_trials(recipe, overrides=["search.epochs=1"], seeds=[0, 1], executor="local", quiet=True)
    assert out["status"] == "finished"
    assert [t.seed for t, _ in seen] == [0, 1] and all(isinstance(t, TrialSpec) for t, _ in seen)
    assert all(r["status"] == "finished" and r["seed"] == t.seed and r["attempts"] == 1 for t, r in seen)


BREACHES = '''
import torch
from automl_nas import Component, hookimpl
from automl_nas.api import EdgeWeights, Objective
from automl_nas_toy.space import SoftmaxSampler


class Narrow(SoftmaxSampler):
    name = "narrow"

    def sample(self, params, *, phase):
        return {g: EdgeWeights(weights=torch.softmax(p[:, :1], -1)) for g, p in params.items()}


class Bare(SoftmaxSampler):
    name = "bare"

    def sample(self, params, *, phase):
        return {g: torch.softmax(p, -1) for g, p in params.items()}


class Broken(SoftmaxSampler):
    name = "broken"

    def sample(self, params, *, phase):
        raise RuntimeError("broken at the first step")


class FloatPenalty(Objective):
    name = "float-penalty"
    phases = frozenset({"arch"})

    def __init__(self, config=None):
        pass

    def __call__(self, ctx):
        return 0.1


@hookimpl
def automl_register_samplers():
    return [Component(kind="sampler", name=n, impl=f"breach_plugin:{c}")
            for n, c in (("narrow", "Narrow"), ("bare", "Bare"), ("broken", "Broken"))]


@hookimpl
def automl_register_objectives():
    return [Component(kind="objective", name="float-penalty", impl="breach_plugin:FloatPenalty")]
'''


@pytest.mark.parametrize("override, said", [
    ('search.sampler={name="narrow"}', r"sampler 'narrow' from plugin 'breaches' \(.*\): sample\(\)\['cell'\]\.weights "
                                       r"has shape \(\d+, 1\), the group is \(\d+, \d+\) \(edges, ops\)"),
    ('search.sampler={name="bare"}', r"sampler 'bare' from plugin 'breaches' \(.*\): sample\(\)\['cell'\] is Tensor, "
                                     r"not EdgeWeights"),
    ('search.objectives=[{name="cross_entropy"}, {name="float-penalty"}]',
     r"objective 'float-penalty' from plugin 'breaches' \(.*\): returned float, not a 0-dim tensor"),
])
def test_a_sampler_s_or_objective_s_wrong_return_is_named_at_the_first_step(tmp_path, monkeypatch, override, said):
    """A sampler's wrong sample was blamed on the space that used it (first-party nb201 included);
    an objective's float added no gradient without a word."""
    from automl_nas.errors import PluginError
    from automl_nas.testing import run_recipe
    from tests.conftest import toy_recipe_text

    (tmp_path / "breach_plugin.py").write_text(BREACHES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import breach_plugin

    with pytest.raises(PluginError, match=said) as err:
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(breach_plugin, "breaches")],
                   overrides=[override])
    assert err.value.exit_code == 3 and "automl_nas.api." in err.value.hint


def test_a_component_its_plugin_offered_but_the_host_refused_is_named_with_the_reason(tmp_path, monkeypatch):
    """A recipe naming it got "unknown sampler" (exit 2) after a warning, though the host knew
    which component it had refused and why; other unknown names say that plugins failed to load."""
    from automl_nas.errors import PluginError, RecipeError
    from automl_nas.testing import run_recipe
    from tests.conftest import toy_recipe_text

    (tmp_path / "plain_config_plugin.py").write_text('''
from automl_nas import Component, hookimpl


class Options:  # not attrs
    pass


@hookimpl
def automl_register_samplers():
    return [Component(kind="sampler", name="plainly", impl="automl_nas_toy.space:SoftmaxSampler", config=Options)]
''')
    monkeypatch.syspath_prepend(str(tmp_path))
    import plain_config_plugin

    with pytest.raises(PluginError, match=r"search.sampler.name: sampler 'plainly' is not available: plugin 'plain' "
                                          r"\(.*\): sampler 'plainly' has config=.*not an attrs class") as err:
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(plain_config_plugin, "plain")],
                   overrides=['search.sampler={name="plainly"}'])
    assert err.value.exit_code == 3 and "@attrs.frozen" in err.value.hint
    with pytest.raises(RecipeError, match=r"unknown sampler 'nowhere'.*; 1 plugin\(s\) failed to load \('plain'\), and "
                                          r"the name may be one of theirs"):
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(plain_config_plugin, "plain")],
                   overrides=['search.sampler={name="nowhere"}'])


def test_a_plugin_failing_before_any_checkpoint_is_not_offered_a_resume(tmp_path, monkeypatch):
    """The hint promised `automl run --resume`, which then found no checkpoint (exit 5)."""
    from automl_nas.errors import PluginError
    from automl_nas.testing import run_recipe
    from tests.conftest import toy_recipe_text

    (tmp_path / "breach_plugin.py").write_text(BREACHES)
    monkeypatch.syspath_prepend(str(tmp_path))
    import breach_plugin

    with pytest.raises(PluginError, match=r"sampler 'broken' from plugin 'breaches' .* failed in epoch 1") as err:
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(breach_plugin, "breaches")],
                   overrides=['search.sampler={name="broken"}'])
    assert "run the recipe again into a new --run-dir (no checkpoint was written yet" in err.value.hint
    assert "--resume" not in err.value.hint


def test_a_shared_helper_of_a_plugin_package_is_blamed_on_the_component_that_called_it(tmp_path, monkeypatch):
    """A helper module used by one component of a package was blamed on the package's first
    component (the sampler, for a bug under the objective)."""
    from automl_nas.errors import PluginError
    from automl_nas.testing import run_recipe
    from tests.conftest import toy_recipe_text

    package = tmp_path / "helperpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "util.py").write_text("def boom():\n    raise ValueError('bug in a shared helper')\n")
    (package / "sampler.py").write_text("from automl_nas_toy.space import SoftmaxSampler\n\n\n"
                                        "class Soft(SoftmaxSampler):\n    name = 'pkg-softmax'\n")
    (package / "objective.py").write_text(
        "from automl_nas.api import Objective\nfrom helperpkg import util\n\n\n"
        "class Penalty(Objective):\n    name = 'pkg-penalty'\n    phases = frozenset({'arch'})\n\n"
        "    def __init__(self, config=None):\n        pass\n\n    def __call__(self, ctx):\n        return util.boom()\n")
    (package / "hooks.py").write_text(
        "from automl_nas import Component, hookimpl\n\n\n@hookimpl\ndef automl_register_samplers():\n"
        "    return [Component(kind='sampler', name='pkg-softmax', impl='helperpkg.sampler:Soft')]\n\n\n"
        "@hookimpl\ndef automl_register_objectives():\n"
        "    return [Component(kind='objective', name='pkg-penalty', impl='helperpkg.objective:Penalty')]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import helperpkg.hooks

    with pytest.raises(PluginError, match=r"^objective 'pkg-penalty' from plugin 'helperpkg' .*ValueError: bug in a "
                                          r"shared helper"):
        run_recipe(tmp_path, toy_recipe_text(tmp_path / "runs"), plugins=[(helperpkg.hooks, "helperpkg")],
                   overrides=['search.sampler={name="pkg-softmax"}',
                              'search.objectives=[{name="cross_entropy"}, {name="pkg-penalty"}]'])
