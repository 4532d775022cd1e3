"""benchmarks/gpu_check.sh runs end to end on the CPU and writes its two summaries (issue 15).

The suite runs it with ``--smoke`` (every section, smallest settings: one step-time
configuration, 1-step searches on a tiny supernet, 1 vs 2 seed processes); ``--quick`` is the
few-minute CPU mode of the same code path. It runs as it would on the device machine, whose
image has no ray, optuna or plotly (scripts/gpu_rehearsal.sh checks the rest of that image:
its older torch).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from automl_nas.testing import script_fixture

REPO = Path(__file__).resolve().parents[1]


# The device machine's image lacks these (the device tool's KINDS.md, read 2026-11); a sitecustomize on PYTHONPATH
# makes them unimportable in the check and in every process it starts.
DEVICE_IMAGE_LACKS = ("ray", "optuna", "plotly")
_ABSENT = """import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {absent!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (the device image has none)", name=name)
sys.meta_path.insert(0, _Absent())
"""


def _without_device_absentees(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_ABSENT.format(absent=set(DEVICE_IMAGE_LACKS)))
    return {"PYTHONPATH": str(site)}


def test_the_device_image_absentees_are_really_unimportable(tmp_path):
    env = _without_device_absentees(tmp_path)
    probe = "import importlib, sys\nfor m in sys.argv[1:]:\n    try: importlib.import_module(m)\n    except ModuleNotFoundError: print(m)"
    proc = subprocess.run([sys.executable, "-c", probe, *DEVICE_IMAGE_LACKS, "ray.tune", "json"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.stdout.split() == [*DEVICE_IMAGE_LACKS, "ray.tune"], proc.stderr


@pytest.mark.slow
def test_gpu_check_cpu_smoke_writes_json_and_markdown(tmp_path):
    out, returned = tmp_path / "check", tmp_path / "returned"
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "AUTOML_NAS_COMMIT": "abc123+uncommitted",
           **_without_device_absentees(tmp_path)}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(out), "--device", "cpu", "--smoke",
                           "--return-to", str(returned)], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # what a device call returns: at most 8 files, 16 MiB each, no folder (the check's own folder held
    # search runs with checkpoints, Ray batches and one JSON per row: nothing would have come back)
    files = sorted(p.name for p in returned.iterdir())
    assert files == ["cuda-tests.xml", "details.tar.gz", "gpu_check.json", "gpu_check.md"], files
    assert all(p.is_file() and p.stat().st_size < 16 * 2**20 for p in returned.iterdir())
    assert (returned / "gpu_check.json").read_text() == (out / "gpu_check.json").read_text()
    import tarfile

    with tarfile.open(returned / "details.tar.gz") as tar:
        assert tar.getnames() == ["step-gdas-nb201-off-eager.json"]
    assert proc.stdout.startswith("## issue 15 targets") and "## defaults these figures decide" in proc.stdout
    report = json.loads((out / "gpu_check.json").read_text())
    sections = report["sections"]
    assert set(sections) == {"env", "cuda_tests", "step_time", "search", "seeds", "ray_seeds"}
    assert sections["ray_seeds"]["ok"] and "ray is not installed here" in sections["ray_seeds"]["not_run"]
    assert sections["env"]["torch"] and sections["env"]["device"] == "cpu"
    assert len(sections["env"]["commit"]) == 40  # this checkout's; without .git, the one --prepare recorded
    tests = sections["cuda_tests"]
    assert tests["dry_run_on_cpu"] and tests["tests"] >= 1 and tests["failures"] == tests["errors"] == 0
    (row,) = sections["step_time"]["rows"]
    assert row["config"] == "gdas-nb201" and row["ms_iter"] > 0 and row["peak_gb"] > 0 and not row["compiled"]
    for method in ("gdas", "drnas"):
        run = sections["search"]["runs"][method]
        assert run["steps_per_epoch"] == 1 and len(run["epoch_time_s"]) == 2
        assert run["projected_paper_search_min"] > 0 and run["genotype"].startswith("|")
        # the epoch's wall time covers the steps, one validation pass (1 batch of 256) and the checkpoint
        (run_dir,) = (out / "runs").glob(f"{method}-*")  # the engine's own records of the step loop
        recorded = [json.loads(line)["epoch_time_s"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        for epoch, steps_s in zip(run["epochs"], recorded, strict=True):
            assert epoch["steps_s"] == steps_s and epoch["valid_passes"] == 1 and epoch["valid_images"] == 256
            assert epoch["valid_s"] > 0 and epoch["checkpoint_s"] > 0
            assert epoch["wall_s"] >= epoch["steps_s"] + epoch["valid_s"] + epoch["checkpoint_s"]
    seeds = sections["seeds"]
    assert seeds["1"]["processes"] == 1 and seeds["2"]["images"] == 2 * 2 * 64 and seeds["throughput_ratio"] > 0
    md = (out / "gpu_check.md").read_text()
    assert "GPU figures of issue 15 are still to be measured" in md
    assert "| gdas-nb201 | off | no |" in md and "throughput ratio" in md
    assert "| GDAS, 250 epochs: < 10 min |" in md and "CPU run: not a GPU figure" in md


gpu_check = script_fixture(REPO / "benchmarks" / "gpu_check.py")


def test_the_device_check_runs_every_file_that_holds_cuda_tests(gpu_check):
    """A `cuda` test in a file the check does not list would never run on a lent GPU."""
    marker = re.compile(r"^\s*(@pytest\.mark\.cuda\b|pytestmark = .*pytest\.mark\.cuda)", re.MULTILINE)
    files = [*REPO.glob("tests/**/test_*.py"), *REPO.glob("plugins/*/tests/**/test_*.py")]
    marked = sorted(str(f.relative_to(REPO)) for f in files if marker.search(f.read_text()))
    assert "tests/test_cuda.py" in marked and sorted(gpu_check.CUDA_TEST_FILES) == marked


def _epoch(steps_s=2.0, valid_s=1.0, images=2500, passes=1, ckpt=0.5, other=0.25):
    return {"wall_s": steps_s + valid_s + ckpt + other, "steps_s": steps_s, "valid_s": valid_s, "valid_images": images,
            "valid_passes": passes, "checkpoint_s": ckpt, "other_s": other}


def test_paper_epoch_counts_steps_validation_and_checkpoint(gpu_check):
    # 40 steps in 2 s, 2,500 images validated in 1 s: the paper's epoch is 390 steps and 25k images
    assert gpu_check.paper_epoch_s(_epoch(), 40) == pytest.approx(390 * 0.05 + 25_000 * 0.0004 + 0.5 + 0.25)
    # SNAS validates twice an epoch (supernet and child): both passes scale to the valid half
    assert gpu_check.paper_epoch_s(_epoch(valid_s=2.0, images=5000, passes=2), 40) == pytest.approx(
        390 * 0.05 + 2 * 25_000 * 0.0004 + 0.75)


def _search_run(minutes, paper_size=True):
    return {"projected_paper_search_min": minutes, "paper_size": paper_size}


def test_targets_give_verdicts_only_for_full_gpu_runs(gpu_check):
    runs = {"gdas": _search_run(7.5), "drnas": _search_run(12.0), "darts": {"error": "boom"}}
    step_rows = [{"config": "snas-nb201", "bf16": False, "compiled": False, "projection_h": 0.1, "peak_gb": 1.5},
                 {"config": "snas-nb201", "bf16": True, "compiled": False, "projection_h": 0.01, "peak_gb": 1.0}]
    sections = {"search": {"runs": runs}, "step_time": {"rows": step_rows},
                "seeds": {"1": {}, "4": {}, "throughput_ratio": 3.2}}
    rows = {t.target.split(",")[0].split(":")[0]: t for t in gpu_check.targets(
        {"device": "cuda", "mode": "full", "sections": sections})}
    assert rows["GDAS"].verdict == "met" and rows["GDAS"].measured.startswith("7.5 min (real")
    assert rows["DrNAS"].verdict == "**NOT met**"
    assert rows["DARTS"].verdict == "no verdict"  # its search failed and step_time did not measure it
    # SNAS falls back to the eager fp32 step-time projection, said to exclude validation: 6 min
    assert rows["SNAS"].measured.startswith("6.0 min (step_time steps only") and rows["SNAS"].verdict == "met"
    assert rows["4 concurrent seeds"].verdict == "met" and rows["peak memory per configuration"].measured == "snas-nb201 1.50 GB"
    quick = gpu_check.targets({"device": "cuda", "mode": "quick", "sections": sections})
    assert quick[0].verdict == "reduced run: no verdict"
    assert {t.verdict for t in quick} == {"reduced run: no verdict", "no verdict", "reported"}  # the seeds row too
    cpu = gpu_check.targets({"device": "cpu", "mode": "full", "sections": sections})
    assert {t.verdict for t in cpu} <= {"CPU run: not a GPU figure", "no verdict", "reported"}


def test_step_runs_put_the_decisions_first(gpu_check):
    s = gpu_check._settings(gpu_check.parse_args(["out"]))
    runs = gpu_check.step_runs(s)
    assert len(runs) == len(set(runs)) == len(gpu_check.CONFIGS_FULL) * 4
    core = gpu_check.CORE_CONFIGS
    assert runs[:4] == [(False, "off", n) for n in core]  # eager fp32 of the four 10-minute targets
    assert runs[4:8] == [(False, "on", n) for n in core]  # then bf16 (seconds each)
    assert runs[8:12] == [(True, "off", n) for n in core]  # then CUDA graphs vs eager (minutes of compiling)
    assert {n for c, b, n in runs[12:16]} == set(gpu_check.CONFIGS_FULL) - set(core)
    assert all((c, b) == (False, "off") for c, b, _ in runs[12:16])


def test_past_the_deadline_sections_are_not_run_and_the_summary_is_still_written(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(out), "--device", "cpu", "--smoke",
                           "--deadline-s", "0.5"], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["sections"]["env"]["torch"]  # started inside the deadline
    for name in ("cuda_tests", "step_time", "search", "seeds"):
        assert report["sections"][name] == {"ok": False, "error": "not run: past the --deadline-s (0 s)"}
    assert not report["finished"].startswith("PARTIAL")
    assert "- seeds: FAILED" in (out / "gpu_check.md").read_text()


@pytest.mark.slow
def test_gpu_check_ray_seeds_runs_trials_through_the_executor(tmp_path):
    """Where ray is installed (here; on the device from the pruned wheel that gpu_session.sh carries),
    the seeds go through ``automl run --seeds --executor ray``, each trial reserving its share."""
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), str(out), "--device", "cpu",
                           "--smoke", "--sections", "ray_seeds"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    section = json.loads((out / "gpu_check.json").read_text())["sections"]["ray_seeds"]
    assert section["ok"] and section["throughput_ratio"] > 0
    for n in (1, 2):
        got = section[str(n)]
        assert got["trials"] == n and 0 <= got["overlap"] <= 1 and got["wall_s"] > got["start_s"] > 0
        assert sorted(got["per_trial"]) == [str(seed) for seed in range(1, n + 1)]
        for seed, trial in got["per_trial"].items():
            # the cores shared by n trials; Ray reserved no GPU, so "auto" became the CPU
            cpus = max(0.5, os.cpu_count() / n)
            assert trial["device"] == "cpu" and trial["gpu_ids"] == [] and trial["resources"]["CPU"] == cpus
            assert trial["img_per_s"] == pytest.approx(1 * 2 * 64 / trial["epoch2_s"])
            assert 0 < trial["epoch2_steps_s"] < trial["epoch2_s"]
            metrics = (Path(got["batch"]) / f"seed-{seed}" / "metrics.jsonl").read_text().splitlines()
            assert len(metrics) == 2  # the trial's own records: 2 epochs of 1 step
        assert got["img_per_s"] == pytest.approx(sum(t["img_per_s"] for t in got["per_trial"].values()))
    md = (out / "gpu_check.md").read_text()
    assert "## seed trials on Ray" in md and "2 trial(s):" in md


def test_ray_seeds_too_close_to_the_deadline_is_not_run_and_says_how_to_run_it(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), str(out), "--device", "cpu",
                           "--quick", "--sections", "ray_seeds", "--deadline-s", "30"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    section = json.loads((out / "gpu_check.json").read_text())["sections"]["ray_seeds"]
    assert section["ok"] and "--sections env,ray_seeds" in section["not_run"] and "throughput_ratio" not in section
    assert not list(out.glob("ray-seeds-*"))  # no batch started


def _step_row(config, ms, *, bf16=False, compiled=False):
    return {"config": config, "bf16": bf16, "compiled": compiled, "ms_iter": ms, "ms_min": ms, "img_per_s": 128e3 / ms,
            "peak_gb": 1.0, "peak_kind": "cuda allocated"}


def test_decisions_read_the_defaults_off_the_step_rows(gpu_check):
    rows = [_step_row("gdas-nb201", 30.0), _step_row("darts-nb201", 40.0), _step_row("drnas-nb201", 42.0),
            _step_row("darts-nb201", 12.0, compiled=True), _step_row("drnas-nb201", 41.0, compiled=True),
            _step_row("gdas-nb201", 29.5, bf16=True), _step_row("darts-nb201", 25.0, bf16=True)]
    report = {"device": "cuda", "mode": "full", "sections": {"step_time": {"rows": rows}}}
    compile_, bf16, gdas = gpu_check.decisions(report)
    # CUDA graphs: 3.3x for DARTS, 2% for DrNAS (inside run-to-run drift): on for DARTS only
    assert compile_.says == "on for darts-nb201 (> 5% faster compiled)"
    assert "darts-nb201 40 -> 12 ms (3.33x)" in compile_.measured and "drnas-nb201 42 -> 41 ms (1.02x)" in compile_.measured
    # bf16 is faster for DARTS only, and speed alone never switches it on
    assert bf16.says.startswith("> 5% faster for darts-nb201: on there only if") and "--spread" in bf16.says
    # GDAS eager 30 ms vs all ops in one graph ~ DARTS compiled 12 ms: the static form is worth building
    assert gdas.says == "build the static form: up to 18 ms per iteration less (2.50x)"
    rows[4] = {**rows[4], "graphs": 17, "graph_breaks": 8}  # a compile that ran partly eager says so
    assert "drnas-nb201 42 -> 41 ms (1.02x; 17 graphs, 8 breaks: partly eager)" in gpu_check.decisions(report)[0].measured
    rows[3] = _step_row("darts-nb201", 31.0, compiled=True)
    assert gpu_check.decisions(report)[2].says == "eager stays: one graph of all ops is not faster"
    assert gpu_check.decisions(report)[0].says.startswith("on for darts-nb201")  # 40 / 31 = 1.29x
    # a CPU or reduced run shows the figures and decides nothing; a missing row is said
    for device, mode, says in (("cpu", "full", "CPU run: decides no GPU default"),
                               ("cuda", "quick", "reduced run: no decision")):
        got = gpu_check.decisions({"device": device, "mode": mode, "sections": {"step_time": {"rows": rows}}})
        assert {d.says for d in got} == {says}
    bare = gpu_check.decisions({"device": "cuda", "mode": "full", "sections": {"step_time": {"rows": rows[:3]}}})
    assert [d.says for d in bare] == ["no decision"] * 3 and bare[2].measured.startswith("not measured")
    assert "## defaults these figures decide" in gpu_check.markdown(
        {**report, "finished": "now", "total_s": 1.0, "seconds": {"step_time": 1.0}})


def test_a_second_device_call_can_time_just_the_rows_the_first_had_no_budget_for(gpu_check):
    args = gpu_check.parse_args(["out", "--configs", "darts-nb201,drnas-nb201", "--kinds", "compiled-fp32,eager-fp32"])
    runs = gpu_check.step_runs(gpu_check._settings(args))
    assert runs == [(False, "off", "darts-nb201"), (False, "off", "drnas-nb201"),
                    (True, "off", "darts-nb201"), (True, "off", "drnas-nb201")]
    quick = gpu_check._settings(gpu_check.parse_args(["out", "--quick", "--kinds", "compiled-fp32"]))
    assert gpu_check.step_runs(quick) == [(True, "off", "gdas-nb201"), (True, "off", "drnas-nb201")]
    for bad in (["--kinds", "compiled"], ["--configs", "drnas"]):
        with pytest.raises(SystemExit):
            gpu_check.parse_args(["out", *bad])
    full = gpu_check.step_runs(gpu_check._settings(gpu_check.parse_args(["out"])))
    assert len(full) == len(gpu_check.CONFIGS_FULL) * 4  # no filter: every row, as before


def test_a_search_only_call_passes_its_overrides_to_every_search_and_says_so(tmp_path):
    # e.g. a second device call: the real searches with run.compile=true (here a cheap override)
    out = tmp_path / "check"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), str(out), "--device", "cpu",
                           "--smoke", "--sections", "search", "--searches", "gdas", "--search-set", "run.fast_paths=false"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert list(report["sections"]["search"]["runs"]) == ["gdas"] and report["search_set"] == ["run.fast_paths=false"]
    (run_dir,) = (out / "runs").glob("gdas-*")
    assert "fast_paths = false" in (run_dir / "recipe.toml").read_text()  # the search ran with it
    md = (out / "gpu_check.md").read_text()
    assert "## 2-epoch searches at paper size (cifar10-5k), with run.fast_paths=false" in md


def test_a_command_stopped_for_time_takes_its_children_with_it(gpu_check, tmp_path):
    """step_time.py measures in a child of its own: killing the driver at the row's time limit left
    the child compiling and stepping through the later sections' timings."""
    import time

    pid_file = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time\nchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(child.pid))\ntime.sleep(60)")
    with pytest.raises(subprocess.TimeoutExpired):
        gpu_check._run([sys.executable, "-c", script], 3)
    child = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with open(f"/proc/{child}/stat") as stat:  # a zombie the init process has not reaped yet is gone too
            assert stat.read().split()[2] == "Z", "the measuring child outlived its stopped driver"


def test_the_commit_comes_from_prepare_where_the_tree_has_no_git(gpu_check, monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(gpu_check.subprocess, "run", no_git)
    monkeypatch.setenv("AUTOML_NAS_COMMIT", "abc123+uncommitted")
    assert gpu_check._commit() == "abc123+uncommitted"
    monkeypatch.delenv("AUTOML_NAS_COMMIT")
    assert gpu_check._commit() is None



def test_a_compiled_row_with_cuda_graph_skips_says_so_in_the_decision(gpu_check):
    """Inductor may run a graph without CUDA graphs (mutated inputs: BN running stats); the row
    was still labelled "reduce-overhead: CUDA graphs"."""
    rows = [{"config": "drnas-nb201", "bf16": False, "compiled": False, "ms_iter": 100.0},
            {"config": "drnas-nb201", "bf16": False, "compiled": True, "ms_iter": 50.0, "graphs": 2, "graph_breaks": 0,
             "cudagraph_skips": 2}]
    (compile_row, *_) = gpu_check.decisions({"device": "cuda", "mode": "full", "sections": {"step_time": {"rows": rows}}})
    assert "2 graph(s) without CUDA graphs" in compile_row.measured


def test_only_this_run_s_files_are_published(gpu_check, tmp_path):
    """A reused scratch folder's older files (a first call's test results and step rows) were
    returned as the second call's."""
    import tarfile
    import time

    out, to = tmp_path / "out", tmp_path / "to"
    out.mkdir()
    (out / "cuda-tests.xml").write_text("<testsuite tests='99'/>")
    (out / "step-darts-nb201-on-compiled.json").write_text("[]")
    old = time.time() - 600
    for path in out.iterdir():
        os.utime(path, (old, old))
    (out / "gpu_check.json").write_text("{}")
    (out / "step-gdas-nb201-off-eager.json").write_text("[]")
    published = gpu_check.publish(out, to, since=time.time() - 60)
    assert [p.name for p in published] == ["details.tar.gz", "gpu_check.json"]
    with tarfile.open(to / "details.tar.gz") as tar:
        assert tar.getnames() == ["step-gdas-nb201-off-eager.json"]


def test_a_failing_seed_worker_stops_the_others_and_is_named(gpu_check, tmp_path):
    """The other workers waited at the barrier for it (180 s), and the report showed their timeout,
    not its error."""
    import time

    args = gpu_check.parse_args([str(tmp_path), "--device", "bogus", "--smoke"])
    started = time.perf_counter()
    result = gpu_check.section_seeds(args, tmp_path, gpu_check._settings(args))
    assert time.perf_counter() - started < 60 and not result["ok"]
    assert result["error"].startswith("seed worker ") and "bogus" in result["error"]
    assert not gpu_check.LIVE


@pytest.mark.slow
def test_a_check_stopped_by_its_caller_takes_its_children_with_it(gpu_check, tmp_path):
    """The children ran in sessions of their own: `timeout` (SIGTERM) and Ctrl-C stopped the check
    and left step_time.py measuring."""
    import time

    proc = subprocess.Popen(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), str(tmp_path / "o"), "--device", "cpu",
                             "--smoke", "--sections", "step_time"], cwd=REPO, env={**os.environ, "PYTHON": sys.executable},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(300):  # until step_time.py runs below it
        time.sleep(0.1)
        if any("step_time.py" in _cmdline(pid) for pid in gpu_check._descendants(proc.pid)):
            break
    below = gpu_check._descendants(proc.pid)
    proc.terminate()
    proc.communicate(timeout=60)
    time.sleep(1)
    assert below and not [pid for pid in below if _alive(pid)], "children outlived the stopped check"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def test_the_failing_seed_worker_is_named_whichever_it_is(gpu_check, tmp_path, monkeypatch):
    """With worker 0 still running (waiting at the barrier), worker 1's failure went unnoticed:
    the check waited out the barrier and reported worker 0's timeout."""
    import time

    fake = tmp_path / "worker.py"
    fake.write_text("import json, sys, time\ni = int(sys.argv[sys.argv.index('--seed-worker') + 1])\n"
                    "if sys.argv[sys.argv.index('--workers') + 1] == '1':  # the single-process round passes\n"
                    "    t = time.time()\n"
                    "    print('GPU_CHECK ' + json.dumps({'start': t, 'end': t + 1, 'images': 64, 'peak_gb': 1.0, "
                    "'peak_kind': 'rss'}))\n    sys.exit(0)\n"
                    "if i == 1:\n    sys.exit('worker 1: THE REAL ERROR (CUDA out of memory)')\n"
                    "time.sleep(30)\nsys.exit('seed worker 0: the other workers were not ready after 180 s')\n")
    monkeypatch.setattr(gpu_check, "__file__", str(fake))
    args = gpu_check.parse_args([str(tmp_path), "--device", "cpu", "--smoke"])
    started = time.perf_counter()
    result = gpu_check.section_seeds(args, tmp_path, gpu_check._settings(args))
    assert time.perf_counter() - started < 10
    assert result["error"].startswith("seed worker 1 of 2 failed: worker 1: THE REAL ERROR"), result


def test_a_process_that_left_the_tree_does_not_hold_the_check_past_its_limit(gpu_check):
    """A grandchild re-parented away kept the pipes open, and the read after the kill had no limit."""
    import time

    started = time.perf_counter()
    with pytest.raises(subprocess.TimeoutExpired):
        gpu_check._run(["bash", "-c", "(sleep 30 &); sleep 100"], 1.0)
    assert time.perf_counter() - started < 15


def test_a_reused_return_folder_keeps_no_earlier_summary(gpu_check, tmp_path):
    import time

    out, to = tmp_path / "out", tmp_path / "to"
    out.mkdir()
    to.mkdir()
    (to / "cuda-tests.xml").write_text("<testsuite tests='99'/>")  # an earlier run's, which this one did not run
    (out / "gpu_check.json").write_text("{}")
    assert [p.name for p in gpu_check.publish(out, to, since=time.time() - 60)] == ["gpu_check.json"]


def test_a_step_section_that_measured_no_row_is_not_ok(gpu_check, tmp_path, monkeypatch):
    """Every row ran out of time: the check exited 0 with an empty table, read as a check that worked."""
    import time

    monkeypatch.setattr(gpu_check, "STARTED", time.perf_counter() - 1000)  # past every share of a 10 s budget
    args = gpu_check.parse_args([str(tmp_path), "--device", "cpu", "--quick", "--budget-s", "10"])
    sec = gpu_check.section_step_time(args, tmp_path, gpu_check._settings(args))
    assert not sec["rows"] and not sec["failed"] and sec["skipped"]
    assert sec["ok"] is False and sec["error"].startswith("no row measured")
    report = {"device": "cpu", "mode": "quick", "finished": "now", "total_s": 1.0, "sections": {"step_time": sec},
              "seconds": {"step_time": 0.0}}
    assert "- step_time: FAILED (0 s): no row measured" in gpu_check.markdown(report)
    # rows that cannot be compiled (GDAS) are no attempt: nothing to measure is not a failure
    only = gpu_check.parse_args([str(tmp_path), "--device", "cpu", "--quick", "--budget-s", "10",
                                 "--configs", "gdas-nb201", "--kinds", "compiled-fp32"])
    assert gpu_check.section_step_time(only, tmp_path, gpu_check._settings(only))["ok"] is True
