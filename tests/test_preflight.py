"""Preflight (issue 13): a recipe whose table or data is missing is refused before the first step,
from a scratch directory with an empty ``AUTOML_NAS_HOME``, with the command that fixes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from automl_nas.cli import main
from tests.conftest import REPO, SHARED

SNAS = REPO / "recipes" / "snas.toml"
NPZ = SHARED / "data" / "cifar10-5k.npz"
CSV = SHARED / "benchmarks" / "nb201-test-accuracy.csv"
DATA_NPZ = f'data={{name="npz", path="{NPZ}", test_fraction=0.2}}'
TINY = ["search.epochs=1", "search.steps_per_epoch=2", "search.valid_batches=1", "space.channels=4",
        "space.cells_per_stage=1", "data.limit=256", "run.threads=1", "run.device='cpu'"]


def _automl_in(scratch: Path, home: Path, *args: str) -> tuple[subprocess.CompletedProcess, float, bool]:
    """Run the CLI in a fresh interpreter in ``scratch``; returns (process, seconds, torch imported)."""
    code = ("import sys, time; t=time.time()\nfrom click.testing import CliRunner\nfrom automl_nas.cli import main\n"
            f"r = CliRunner().invoke(main, {list(args)!r})\n"
            "sys.stderr.write(r.stderr); print(r.stdout)\n"
            "print('RESULT', r.exit_code, 'torch' in sys.modules, round(time.time()-t, 2))")
    env = {**os.environ, "AUTOML_NAS_HOME": str(home)}
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=scratch, env=env)
    elapsed = time.time() - t0
    last = proc.stdout.strip().splitlines()[-1].split()
    assert last[0] == "RESULT", proc.stdout + proc.stderr
    proc.returncode = int(last[1])
    return proc, elapsed, last[2] == "True"


def test_validate_from_scratch_names_bench_import_then_passes(tmp_path):
    scratch, home = tmp_path / "scratch", tmp_path / "home"
    scratch.mkdir()
    proc, elapsed, torch_loaded = _automl_in(scratch, home, "validate", str(SNAS))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "evaluator: nb201-table: the NAS-Bench-201 table is not installed in " + str(home / "benchmarks") in proc.stderr
    assert "automl bench import nb201 PATH" in proc.stderr and "automl bench fetch nb201" in proc.stderr
    assert "Traceback" not in proc.stderr and not torch_loaded
    assert elapsed < 2.0 * 3, f"validation took {elapsed:.1f}s"  # budget 2 s; slack for a loaded CI box
    proc, _, _ = _automl_in(scratch, home, "bench", "import", "nb201", str(CSV), "-q")
    assert proc.returncode == 0, proc.stderr
    proc, elapsed, torch_loaded = _automl_in(scratch, home, "validate", str(SNAS))
    assert proc.returncode == 0 and f"{SNAS}: ok" in proc.stdout, proc.stdout + proc.stderr
    assert not torch_loaded


def test_missing_data_is_refused_with_the_download_fix(installed_nb201, tmp_path):
    out = CliRunner().invoke(main, ["validate", str(SNAS), "--set", "data.download=false"])
    assert out.exit_code == 4, out.output
    assert "data: cifar10: data_batch_1" in out.stderr and "missing in " + str(installed_nb201 / "data") in out.stderr
    assert "data.download = true" in out.stderr
    out = CliRunner().invoke(main, ["validate", str(SNAS), "--set", 'data={name="npz", path="nope.npz"}'])
    assert out.exit_code == 4 and "data: npz: nope.npz does not exist" in out.stderr


def test_run_is_refused_before_a_run_directory_exists(tmp_path):
    root = tmp_path / "runs"
    out = CliRunner().invoke(main, ["run", str(SNAS), "-q", "--set", DATA_NPZ, "--set", f"run.root='{root}'", *sum((["--set", t] for t in TINY), [])])
    assert out.exit_code == 4, out.output
    assert "automl bench import nb201" in out.stderr and not root.exists()
    for args in (["run", str(SNAS), "--seeds", "0-1", "--set", DATA_NPZ, "--set", f"run.root='{root}'"],
                 ["eval", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "-e", "nb201-table"]):
        out = CliRunner().invoke(main, args)
        assert out.exit_code == 4 and "automl bench import nb201" in out.stderr, out.output
    assert not root.exists()


def test_study_and_search_are_refused_before_the_first_trial(tmp_path):
    recipe = tmp_path / "bb.toml"
    recipe.write_text('name = "bb"\n[space]\nname = "nb201"\n[evaluator]\nname = "nb201-table"\n'
                      f'[blackbox]\nproposer = {{name = "random"}}\nqueries = 5\n[run]\nroot = "{tmp_path / "runs"}"\n')
    out = CliRunner().invoke(main, ["search", str(recipe)])
    assert out.exit_code == 4 and "bb.toml: evaluator: nb201-table: the NAS-Bench-201 table is not installed" in out.stderr
    study = tmp_path / "study.toml"
    study.write_text(SNAS.read_text() + f'\n[study]\nmetric = "metrics.cifar10"\ntrials = 1\nroot = "{tmp_path / "st"}"\n'
                     '[study.params]\n"search.arch_optimizer.lr" = { low = 1e-4, high = 1e-3, log = true }\n')
    out = CliRunner().invoke(main, ["study", str(study), "--set", DATA_NPZ])
    assert out.exit_code == 4 and "automl bench import nb201" in out.stderr, out.output
    assert not (tmp_path / "st").exists()


def test_one_epoch_run_reports_every_dataset_from_the_installed_table(installed_nb201, tmp_path):
    from automl_nas.session import run_recipe_file

    result = run_recipe_file(SNAS, quiet=True, overrides=[DATA_NPZ, f"run.root='{tmp_path}'", *TINY])
    assert result["status"] == "finished" and "eval_error" not in result
    assert set(result["metrics"]) == {"cifar10", "cifar100", "ImageNet16-120"}  # the CSV has no validation columns
    saved = json.loads((Path(result["run_dir"]) / "result.json").read_text())
    assert saved["metrics"] == result["metrics"] and saved["expected"]["metric"] == "cifar10"


def test_evaluator_failure_at_the_end_keeps_the_genotype(installed_nb201, tmp_path, monkeypatch):
    from automl_nas.session import run_recipe_file
    from automl_nas_eval_tabular.table import Nb201Table

    def broken(self, genotype, ctx=None):
        from automl_nas.errors import DataError

        raise DataError("nb201-table: the table vanished", hint="import it again")

    monkeypatch.setattr(Nb201Table, "evaluate", broken)
    result = run_recipe_file(SNAS, quiet=True, overrides=[DATA_NPZ, f"run.root='{tmp_path}'", *TINY])
    monkeypatch.undo()
    monkeypatch.setenv("AUTOML_NAS_HOME", str(installed_nb201))
    assert result["status"] == "finished" and result["genotype"] and "metrics" not in result
    assert "the table vanished" in result["eval_error"] and result["eval_retry"] == f"automl eval {result['run_dir']}"
    shown = CliRunner().invoke(main, ["show", result["run_dir"]]).stdout
    assert "evaluation  failed: nb201-table: the table vanished" in shown and f"automl eval {result['run_dir']}" in shown
    out = CliRunner().invoke(main, ["eval", result["run_dir"], "-q"])
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.stdout)["metrics"]) == {"cifar10", "cifar100", "ImageNet16-120"}


def test_one_epoch_run_reports_validation_accuracies_when_the_table_has_them(empty_automl_home, tmp_path):
    from automl_nas.benchstore import TableStore
    from automl_nas.session import run_recipe_file
    from automl_nas_eval_tabular.synthetic import archs

    cells = archs(15_625)
    columns = {f"{d}{q}": [float(i % 97) + len(q) for i in range(len(cells))]
               for d in ("cifar10", "cifar100", "ImageNet16-120") for q in ("", "_valid", "_valid_12ep")}
    TableStore().write("nb201", cells, columns, source="synthetic", source_kind="test")
    result = run_recipe_file(SNAS, quiet=True, overrides=[DATA_NPZ, f"run.root='{tmp_path}'", *TINY])
    i = cells.index(result["genotype"])
    assert result["metrics"] == {"cifar10": i % 97, "cifar100": i % 97, "ImageNet16-120": i % 97,
                                 "cifar10_valid": i % 97 + 6, "cifar100_valid": i % 97 + 6,
                                 "ImageNet16-120_valid": i % 97 + 6}


def test_validate_warns_of_a_device_this_machine_lacks():
    """validate said ok and `run` refused `run.device = "cuda:99"`; a recipe may be meant for
    another machine, so it is a warning (torch is imported only for a device named outright; that
    validate stays free of it otherwise is checked above)."""
    recipe = REPO / "recipes" / "snas.toml"
    result = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", 'run.device="cuda:99"'])
    assert result.exit_code == 0 and ": ok (" in result.stdout, result.output
    assert "automl: warning: run.device = 'cuda:99' but" in result.stderr
    assert "`automl run` on this machine would refuse it (use --set run.device=" in result.stderr


def test_validate_refuses_a_root_the_run_could_not_create(tmp_path, monkeypatch):
    """validate said ok to a run.root below a file (or in a directory this user may not write)
    and `run` stopped at its first write; the study and black-box recipes' roots likewise."""
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    cases = [(SNAS, "run.root=afile/runs", "run root afile/runs cannot be created", "set run.root"),
             (REPO / "recipes" / "studies" / "snas-temperature.toml", 'study.root="afile/st"',
              "study root afile/st cannot be created", "set study.root"),
             (REPO / "recipes" / "studies" / "snas-temperature.toml", "run.root=afile",
              "study root afile/studies cannot be created", "set run.root"),
             (REPO / "recipes" / "gnn-rea.toml", "run.root=afile/x", "run root afile/x cannot be created",
              "set run.root")]
    for recipe, override, message, fix in cases:
        result = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", override])
        assert result.exit_code == 5 and message in result.output and fix in result.output, (override, result.output)
    assert not (tmp_path / "runs").exists()

    import automl_nas.records.rundir as rundir

    real_access = os.access
    monkeypatch.setattr(rundir.os, "access", lambda p, mode: Path(p) != tmp_path and real_access(p, mode))
    result = CliRunner().invoke(main, ["validate", str(SNAS), "-p", "quick"])
    assert result.exit_code == 5 and f"{tmp_path} is not writable by this user" in result.output, result.output
    monkeypatch.undo()
    result = CliRunner().invoke(main, ["validate", str(SNAS), "-p", "quick", "--set", f"run.root={tmp_path}/new/runs"])
    assert result.exit_code == 0, result.output


def test_validate_of_an_evaluation_recipe_names_the_command_that_checks_it(tmp_path):
    """`automl validate retrain.toml` (what `automl export` writes) said "genotype: unknown key;
    edit the recipe" of a valid file."""
    recipe = tmp_path / "retrain.toml"
    recipe.write_text('name = "r"\ngenotype = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"\n'
                      '[space]\nname = "nb201"\n[evaluator]\nname = "retrain"\n')
    result = CliRunner().invoke(main, ["validate", str(recipe)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "is an evaluation recipe (a genotype to train or score)" in text, text
    assert f"check it with `automl eval {recipe} --check`" in text and "unknown key" not in text
