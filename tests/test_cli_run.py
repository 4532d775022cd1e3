"""`automl run` on a recipe driven only by the outside test plugin; `show`, `plugins`, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from automl_nas.cli import main


def test_run_writes_the_run_directory(toy_recipe, tmp_path):
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    run_dir = Path(summary["run_dir"])
    assert {p.name for p in run_dir.iterdir()} >= {"recipe.toml", "env.json", "metrics.jsonl", "arch_history.jsonl",
                                                  "checkpoints", "result.json"}
    res = json.loads((run_dir / "result.json").read_text())
    assert res["status"] == "finished" and res["genotype"].startswith("toy:")
    assert res["metrics"]["convs"] == float(res["genotype"].count("conv_3x3"))
    assert res["search_time_s"] >= 0
    metrics = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [0, 1]
    assert {"train_loss", "valid_acc", "genotype", "param_free_ops", "entropy_cell", "edge_entropy"} <= set(metrics[0])
    hist = [json.loads(l) for l in (run_dir / "arch_history.jsonl").read_text().splitlines()]
    assert len(hist[0]["params"]["cell"]) == 3 and len(hist[0]["params"]["cell"][0]) == 4
    env = json.loads((run_dir / "env.json").read_text())
    assert env["dataset"] == "toy-blobs" and env["seed"] == 0 and "torch" in env["packages"]
    assert 'name = "toy-softmax"' in (run_dir / "recipe.toml").read_text()
    assert (run_dir / "checkpoints" / "last.pt").exists()
    shown = CliRunner().invoke(main, ["show", str(run_dir)])
    assert shown.exit_code == 0 and "status      finished" in shown.output and "param-free" in shown.output


def test_a_relative_run_dir_is_recorded_absolute_as_its_resume_records_it(toy_recipe, tmp_path, monkeypatch):
    """result.json's run_dir was `runs/x` from the first run and absolute after a resume."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--quiet", "--run-dir", "rel/x"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["run_dir"] == str(tmp_path.resolve() / "rel" / "x")
    assert json.loads((tmp_path / "rel" / "x" / "result.json").read_text())["run_dir"] == str(tmp_path.resolve() / "rel" / "x")


def test_same_seed_same_result_on_cpu(toy_recipe):
    outs = [CliRunner().invoke(main, ["run", str(toy_recipe), "--quiet", "--set", "search.epochs=2"]) for _ in range(2)]
    a, b = (json.loads(o.output) for o in outs)
    ra, rb = (json.loads((Path(x["run_dir"]) / "result.json").read_text()) for x in (a, b))
    assert ra["genotype"] == rb["genotype"] and ra["last_epoch"]["train_loss"] == rb["last_epoch"]["train_loss"]


def test_profile_and_progress_output(toy_recipe):
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--profile", "quick"])
    assert result.exit_code == 0
    assert "epoch 1/1" in result.output and "ETA" in result.output


def test_recipe_error_exit_code(toy_recipe):
    bad = toy_recipe.read_text().replace('name = "toy-softmax"', 'name = "gdsa"')
    toy_recipe.write_text(bad)
    result = CliRunner().invoke(main, ["run", str(toy_recipe)])
    assert result.exit_code == 2
    assert "search.sampler.name: unknown sampler 'gdsa'" in result.output
    assert "Traceback" not in result.output


def test_unwritable_run_root(toy_recipe, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["run", str(toy_recipe), "--set", f"run.root='{blocker}'"])
    assert result.exit_code == 5 and "cannot be written" in result.output


def test_plugins_lists_distributions():
    out = subprocess.run([sys.executable, "-m", "automl_nas.cli", "plugins"], capture_output=True, text=True, check=True).stdout
    assert "toy  (automl-nas-toy 0.0.1)" in out
    assert "search_space  toy" in out
    assert "(automl-nas-space-nb201" in out


def test_plugins_options_table():
    result = CliRunner().invoke(main, ["plugins", "--options", "toy"])
    assert result.exit_code == 0 and "channels = 4" in result.output


def test_plugins_options_of_an_unknown_name_is_a_usage_error_of_the_option_not_a_recipe_error():
    result = CliRunner().invoke(main, ["plugins", "--options", "gdsa"])
    assert result.exit_code == 2
    assert "--options" in result.output and "did you mean 'gdas'" in result.output
    assert "recipe error" not in result.output


def test_what_the_work_prints_goes_to_stderr_and_stdout_is_the_summary_alone(make_toy_recipe, tmp_path, monkeypatch):
    from automl_nas.engine import run as engine
    from automl_nas.study import blackbox

    real_score, real_lookup = engine.score, blackbox._score

    def noisy(real):
        def call(*args, **kwargs):
            print("a plugin's own print; Ray's (raylet) lines arrive the same way")
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(engine, "score", noisy(real_score))
    monkeypatch.setattr(blackbox, "_score", noisy(real_lookup))
    ran = CliRunner().invoke(main, ["run", str(make_toy_recipe(count=32)), "-q", "--run-dir", str(tmp_path / "r")])
    searched = CliRunner().invoke(main, ["search", str(Path(__file__).resolve().parents[1] / "recipes" /
                                                       "morphism-nb201.toml"), "-p", "quick", "-q",
                                         "--run-dir", str(tmp_path / "s")])
    for out in (ran, searched):
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["status"] == "finished"  # the summary alone
        assert "a plugin's own print" in out.stderr


def test_plugins_options_shows_a_required_option_as_required(monkeypatch):
    import attrs

    from automl_nas import Component, hookimpl
    from automl_nas.session import open_session

    @attrs.frozen(kw_only=True)
    class NeedsTemp:
        temp: float = attrs.field(metadata={"help": "softmax temperature"})

    class Hooks:
        @hookimpl
        def automl_register_samplers(self):
            return [Component(kind="sampler", name="needs-temp", impl="x:y", config=NeedsTemp)]

    monkeypatch.setattr("automl_nas.session.open_session", lambda *a, **k: open_session([(Hooks(), "needs")]))
    result = CliRunner().invoke(main, ["plugins", "--options", "needs-temp"])
    assert result.exit_code == 0 and "temp = (required)    softmax temperature" in result.output
    assert "NOTHING" not in result.output


def test_validate_finds_a_component_whose_implementation_module_is_not_installed(monkeypatch):
    """A plugin whose wheel lacks a module: validate said ok and the run's first build failed."""
    from automl_nas import Component, hookimpl
    from automl_nas.session import open_session
    from automl_nas_uniform.config import UniformConfig

    class Hooks:
        @hookimpl
        def automl_register_samplers(self):
            return [Component(kind="sampler", name="shipped-without", impl="automl_nas_uniform.not_in_the_wheel:Sampler",
                              config=UniformConfig),
                    Component(kind="sampler", name="no-package", impl="no_such_package_anywhere.sampler:Sampler")]

    monkeypatch.setattr("automl_nas.session.open_session", lambda *a, **k: open_session([(Hooks(), "partial")]))
    recipe = Path(__file__).parents[1] / "recipes" / "snas.toml"
    for name, module in (("shipped-without", "automl_nas_uniform.not_in_the_wheel"), ("no-package", "no_such_package_anywhere.sampler")):
        result = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", f"search.sampler={{name='{name}'}}"])
        text = " ".join(result.output.split())
        assert result.exit_code == 3 and f"sampler {name!r} from plugin 'partial'" in text, text
        assert f"has no implementation module {module!r}" in text and "reinstall the plugin's distribution" in text
    ok = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick"])
    assert ok.exit_code == 0, ok.output


def test_validate_and_the_run_s_start_say_when_the_paper_s_protocol_changed(tmp_path):
    """`--set data={...}` replaces [data] whole: GDAS' split = "random" fell back to halves, and only
    the finished run's verdict said the protocol had changed."""
    import numpy as np

    npz = tmp_path / "x.npz"
    g = np.random.default_rng(0)
    np.savez(npz, x=g.integers(0, 256, (160, 3, 8, 8), dtype=np.uint8), y=np.arange(160) % 4)
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "gdas.toml"
    table = f'data={{name="npz", path="{npz}"}}'
    checked = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", table])
    text = " ".join(checked.output.split())
    assert checked.exit_code == 0 and "not the paper's protocol (data.name, data.path, data.split, " in text, text
    kept = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", table[:-1] + ', split="random"}'])
    assert "data.split" not in kept.output
    run = CliRunner().invoke(main, ["run", str(recipe), "-p", "quick", "--set", table, "--set", "search.epochs=1",
                                    "--run-dir", str(tmp_path / "r")])
    assert run.exit_code == 0, run.output
    assert "note: not the paper's protocol (data.name, data.path, data.split," in " ".join(run.stderr.split())
