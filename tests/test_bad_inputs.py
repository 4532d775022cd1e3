"""Every bad input refused early, clearly and safely (issue 12): earlier runs are never touched,
nothing is created for a refused run, and every refusal is one paragraph with a documented
exit code. Each test fails on the code before the issue."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from automl_nas.cli import main
from automl_nas.devices import resolve_device

REPO = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash (what 'untouched' means)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def finished_run(make_toy_recipe, tmp_path):
    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "done"
    assert cli("run", recipe, "-q", "--run-dir", run_dir, "--set", "search.epochs=1").exit_code == 0
    return recipe, run_dir


# ---- run directories ------------------------------------------------------------------------


def test_an_existing_run_directory_is_never_written_into(finished_run):
    recipe, run_dir = finished_run
    before = snapshot(run_dir)
    again = cli("run", recipe, "-q", "--run-dir", run_dir)
    assert again.exit_code == 5 and "already holds a run" in again.output and "--resume" in again.output
    assert snapshot(run_dir) == before


def test_two_runs_started_at_once_on_one_directory_do_not_both_write(make_toy_recipe, tmp_path):
    recipe = make_toy_recipe(count=64)
    run_dir = tmp_path / "shared"
    cmd = [sys.executable, "-m", "automl_nas.cli", "run", str(recipe), "-q", "--run-dir", str(run_dir),
           "--set", "search.epochs=2"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outs)
    assert codes == [0, 5], outs
    loser = next(err for code, err in outs if code == 5)
    assert "in use by another run" in loser or "already holds a run" in loser
    epochs = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1]  # one run's records, not two interleaved


def test_runs_and_seed_batches_started_in_the_same_second_get_directories_of_their_own(tmp_path, monkeypatch):
    """Default names carry the start time to the second: two runs (or batches) started together
    chose one name, and all but one were refused as "in use by another run"."""
    from types import SimpleNamespace

    from automl_nas.execution.trials import _parent_dir
    from automl_nas.records.rundir import RunDir

    monkeypatch.setattr("time.strftime", lambda fmt, *a: "20261201-063212")  # both start in one second
    first, second = RunDir.new(tmp_path, "snas"), RunDir.new(tmp_path, "snas")  # each chose before either created
    assert first.path == second.path == tmp_path / "snas-20261201-063212"
    with first.claim(fresh=True), second.claim(fresh=True):  # both run
        assert (first.path.name, second.path.name) == ("snas-20261201-063212", "snas-20261201-063212-2")
    (tmp_path / "snas-20261201-063212-3").write_text("a file: a name taken too")
    with RunDir.new(tmp_path, "snas").claim(fresh=True) as third:
        assert third.path.name == "snas-20261201-063212-4"
    recipe = SimpleNamespace(name="snas", run=SimpleNamespace(root=str(tmp_path)))  # what _parent_dir reads
    batches = [_parent_dir(recipe, None) for _ in range(2)]
    assert [b.name for b in batches] == ["snas-seeds-20261201-063212", "snas-seeds-20261201-063212-2"]
    assert all(b.is_dir() for b in batches)


def test_the_passing_files_of_a_run_starting_at_once_do_not_refuse_the_lock_holder(tmp_path):
    """The race above, pinned: while one run holds the lock and checks the directory is fresh,
    the other may have just written its write probe or its lock record (before linking it).
    Seeing them, the holder was refused too and neither run ran."""
    from automl_nas.errors import RunError
    from automl_nas.records.rundir import RunDir

    run = RunDir(tmp_path / "shared")
    with run.claim(fresh=True):
        pass
    (run.path / ".write-test-4242").write_text("ok")
    (run.path / ".lock.4242.tmp").write_text("{}")
    with run.claim(fresh=True):  # not refused: nothing here is a run's record
        (run.path / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(RunError, match="already holds a run"):
        with run.claim(fresh=True):
            pass


def test_a_run_directory_holding_other_files_is_refused_without_promising_a_resume(toy_recipe, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "images.npz").write_bytes(b"mine")
    result = cli("run", toy_recipe, "-q", "--run-dir", folder)
    assert result.exit_code == 5 and f"run directory {folder} is not empty and holds no run" in result.output
    assert "--resume" not in result.output and [p.name for p in folder.iterdir()] == ["images.npz"]


def test_a_live_lock_refuses_and_a_stale_lock_is_taken_over(make_toy_recipe, tmp_path):
    from automl_nas.records.lock import directory_lock

    recipe = make_toy_recipe(count=32)
    busy = tmp_path / "busy"
    busy.mkdir()
    with directory_lock(busy, what="run"):  # held by this (live) process
        refused = cli("run", recipe, "-q", "--run-dir", busy, "--set", "search.epochs=1")
    assert refused.exit_code == 5 and f"pid {os.getpid()}" in refused.output
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / "stale"
    stale.mkdir()
    import socket

    (stale / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0}))
    assert cli("run", recipe, "-q", "--run-dir", stale, "--set", "search.epochs=1").exit_code == 0
    assert not (stale / ".lock").exists() and (stale / "result.json").exists()


def test_two_processes_taking_over_one_stale_lock_do_not_both_hold_it(tmp_path, monkeypatch):
    """Two resumes of a killed run read its stale lock at once; the slower one unlinked the lock
    the faster had just made and made its own: both wrote the run directory."""
    import socket

    from automl_nas.errors import RunError
    from automl_nas.records import lock

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0}))
    other = {"pid": os.getppid(), "host": socket.gethostname(), "started": 1.0, "what": "run"}  # a live process
    read = lock._owner

    def the_other_takes_over_after_our_first_read(path):
        owner = read(path)
        if owner.get("pid") == int(dead.stdout) and not hasattr(the_other_takes_over_after_our_first_read, "done"):
            the_other_takes_over_after_our_first_read.done = True
            path.unlink()
            path.write_text(json.dumps(other))
        return owner

    monkeypatch.setattr(lock, "_owner", the_other_takes_over_after_our_first_read)
    with pytest.raises(RunError, match=f"in use by another run \\(pid {other['pid']}, which took over a stale lock"):
        with lock.directory_lock(tmp_path, what="run"):
            pass
    assert json.loads((tmp_path / ".lock").read_text()) == other  # its lock stands


def test_recipe_names_cannot_escape_the_run_root(make_toy_recipe, tmp_path):
    recipe = make_toy_recipe(count=32)
    recipe.write_text(recipe.read_text().replace('name = "toy"', 'name = "../../escaped/x"', 1))
    assert cli("run", recipe, "-q", "--set", "search.epochs=1").exit_code == 0
    root = recipe.parent / "runs"
    (made,) = list(root.iterdir())
    assert made.name.startswith("escaped-x-") and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("override,code,message", [
    ("data.batch_size=100000", 2, "data.batch_size = 100000 is larger than the weight split"),
    ('data={name="npz", path="no/such/file.npz"}', 4, "does not exist"),
    # torch's own refusal mid-run was an "internal error"
    ("run.device=gpu", 2, "run.device: must be auto, cpu, mps, cuda or cuda:N, got 'gpu'"),
])
def test_a_run_refused_while_loading_leaves_no_directory(make_toy_recipe, override, code, message):
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", override)
    assert result.exit_code == code and message in result.output
    assert not (recipe.parent / "runs").exists()


# ---- silent wrong runs ------------------------------------------------------------------------


def test_stray_label_codes_are_refused_not_trained(tmp_path):
    y = np.r_[np.arange(10).repeat(20), 255]
    x = np.random.default_rng(0).integers(0, 255, (len(y), 3, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = f'data={{name="npz", path={json.dumps(str(tmp_path / "d.npz"))}}}'
    result = cli("run", REPO / "recipes" / "gdas.toml", "-p", "quick", "-q", "--set", data, "--set", f"run.root={str(tmp_path / 'r')!r}")
    assert result.exit_code == 4 and "not the class indices 0..K-1" in result.output and "data.num_classes" in result.output
    assert not (tmp_path / "r").exists()
    declared = data[:-1] + ", num_classes = 300}"
    assert cli("validate", REPO / "recipes" / "gdas.toml", "--set", declared, "--set", "evaluator={name=\"naswot\"}").exit_code == 0


@pytest.mark.parametrize("label, dtype, message", [
    (2**40, np.int64, "y has label 1099511627776, not a class index (at most 1,000,000)"),  # was killed for memory
    (2**63 + 5, np.uint64, "y has label 9223372036854775813, not a class index"),  # wrapped negative when cast
    (100_000, np.int64, "they go up to 100000 but 99990 of those values never occur (10, 11, 12"),
])
def test_a_label_far_past_the_classes_is_named_without_listing_every_absent_value(tmp_path, label, dtype, message):
    y = np.r_[np.arange(10).repeat(20).astype(dtype), np.array([label], dtype=dtype)]
    x = np.random.default_rng(0).integers(0, 255, (len(y), 3, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = f'data={{name="npz", path={json.dumps(str(tmp_path / "d.npz"))}}}'
    for declared in ("", ", num_classes = 10"):
        result = cli("run", REPO / "recipes" / "gdas.toml", "-p", "quick", "-q", "--set", data[:-1] + declared + "}",
                     "--set", f"run.root={str(tmp_path / 'r')!r}")
        assert result.exit_code == 4, result.output
        if not declared:
            assert message in result.output, result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override,message", [
    ("seed=100000000000000000000", "seed: must be <= 2147483647"),
    ("seed=-1", "seed"),
    ("search.weights_optimizer.lr_min=1.0", "must not exceed lr"),
    ('search.sampler.temperature={kind="linear", start=0.1, end=10.0}', "must not rise"),
    ("search.sampler.temperature=0.0", "temperature must stay > 0"),  # was "float is not iterable"
    # another sampler without options kept the recipe's: the message read "(allowed: )"
    ('search.sampler={name="darts", temperature=1.0}', "search.sampler.temperature: unknown key (search.sampler takes no options)"),
    ("expected.low=100", "expected: needs low <= value <= high (got 100.0 <= 93.61 <= 93.9)"),  # every run OUTSIDE
    # TOML's nan and inf passed validate; the run then stopped at its first step as "non-finite"
    ("search.sampler.temperature.start=nan", "search.sampler.temperature.start: must be a finite number (got nan)"),
    ("search.sampler.temperature=inf", "search.sampler.temperature: must be a finite number (got inf)"),
    ("search.weights_optimizer.lr=nan", "search.weights_optimizer.lr: must be a finite number (got nan)"),
    ("search.arch_optimizer.weight_decay=inf", "search.arch_optimizer.weight_decay: must be a finite number (got inf)"),
    # torch's refusal came mid-setup, as an internal error
    ("search.arch_optimizer.betas=[1.5, 0.9]", "search.arch_optimizer.betas: must be two decay rates in [0, 1), got [1.5, 0.9]"),
    # the key path read "betas.<built-in method index of str object at 0x...>"
    ("search.arch_optimizer.betas=[0.5]", "search.arch_optimizer.betas: Not enough values in [0.5]"),
    # cattrs' generated code said "argument of type 'int' is not iterable"
    ("search=5", "search: expected a table, got int 5"),
    ("search.weights_optimizer='fast'", "search.weights_optimizer: expected a table, got str 'fast'"),
])
def test_numbers_that_would_run_wrong_are_refused(override, message):
    result = cli("validate", REPO / "recipes" / "gdas.toml", "--set", override)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(("recipe", "override", "message"), [
    # a plugin field's own converter (converter=tuple) said "search.sampler.int: object is not iterable"
    ("drnas-progressive.toml", "search.sampler.stage_epochs=5", "search.sampler.stage_epochs: expected a list, got int 5"),
    # converter=float's error named the table, not the key
    ("drnas.toml", "search.sampler.reg_scale=abc", "search.sampler.reg_scale: expected a number, got str 'abc'"),
    ("gdas.toml", "search.sampler.temperature.start=[1,2]",
     "search.sampler.temperature.start: expected a number, got list [1, 2]"),
    # converter=float took true as 1.0, and converter=tuple kept [true, 4]
    ("snas.toml", "search.sampler.temperature.start=true", "search.sampler.temperature.start: expected a number, got true"),
    ("drnas.toml", "search.sampler.reg_scale=true", "search.sampler.reg_scale: expected a number, got true"),
    ("drnas-darts.toml", "search.sampler.keep_ops=[true, 4]",
     "search.sampler.keep_ops: expected a list of integers, got [True, 4]"),
    # a plugin's validator whose message starts with its field named only the table
    ("gnn-darts.toml", "space.hidden=30", "space.hidden: hidden=30 must be a multiple of 4"),
    # ... and one about several fields stays the table's (the first named may not be the one set)
    ("gnn-darts.toml", "data.valid_nodes=0.9", "data: train_nodes + valid_nodes = 1.20 leaves no test nodes"),
    # a validator raising a bare message named only `study`
    ("studies/snas-temperature.toml", 'study.directions=["up", "down"]',
     "study.directions: must be 'maximize' or 'minimize', got ['up', 'down']"),
    ("studies/darts-arch.toml", 'study.params."search.arch_optimizer.lr".choices=5',
     "study.params.search.arch_optimizer.lr.choices: expected a list, got int 5"),
])
def test_a_plugin_option_of_the_wrong_kind_is_named_by_its_own_key(recipe, override, message):
    quick = ["-p", "quick"] if recipe.startswith(("studies/", "gnn", "morphism")) else []  # no table needed
    result = cli("validate", REPO / "recipes" / recipe, *quick, "--set", override)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and message in said, said
    assert "(set by --set" in said or "choices" in override or "valid_nodes" in override


@pytest.mark.parametrize(("override", "message"), [
    ("spae=1", "spae: unknown key; did you mean 'space'?"),  # ignored: validate said ok, the search ran
    ("seed=-3", "seed: must be >= 0: -3"),
    ("seed=true", "seed: expected int, got bool True"),
])
def test_a_black_box_recipe_s_own_keys_are_checked(override, message):
    result = cli("validate", REPO / "recipes" / "gnn-rea.toml", "-p", "quick", "--set", override)
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and message in said and f"(set by --set {override})" in said, said


def test_an_objective_s_weight_is_offered_among_its_allowed_keys():
    result = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set",
                 'search.objectives=[{name="cross_entropy", wieght=2}]')
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "search.objectives[0].wieght: unknown key; did you mean 'weight'? (allowed: " \
        "aux_weight, label_smoothing, weight)" in said, said


def test_a_search_recipe_s_data_key_in_an_evaluation_s_data_is_named_as_such(tmp_path):
    """It said "data.split: unknown key; did you mean 'split'?" and listed split as allowed."""
    result = cli("eval", "link=[0,0,1,2] ops=[gcn,gat,sage,fc]", "-e", "gnn-train", "--data",
                 '{name="sbm", split="dataset"}', "--out", tmp_path / "out", "--check")
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "data.split: a key of a one-shot search recipe's [data], which this [data] does " \
        "not read" in said and "did you mean" not in said, said


def test_a_shipped_latency_table_given_as_a_recipe_says_what_it_is():
    """It said "not valid TOML ... fix the syntax at the line and column named above"."""
    result = cli("validate", REPO / "recipes" / "gnn-latency-cora.json")
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "a JSON document (format 'automl-nas/latency-table'" in said
    assert "not a TOML recipe" in said and "fix the syntax" not in said


def test_a_recipe_that_is_not_utf8_is_a_recipe_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    result = cli("validate", bad)
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_a_recipe_saved_with_a_byte_order_mark_reads_as_without(toy_recipe, tmp_path):
    marked = tmp_path / "marked.toml"  # Windows editors save UTF-8 with a BOM, which TOML does not allow
    marked.write_bytes(b"\xef\xbb\xbf" + toy_recipe.read_bytes())
    assert cli("validate", marked).exit_code == 0
    assert cli("validate", toy_recipe).output == cli("validate", marked).output.replace("marked.toml", "toy.toml")


@pytest.mark.parametrize(("text", "missing"), [
    ('name = "x"\n', "search"),
    ('name = "x"\n[space]\nname = "nb201"\n[data]\nname = "digits"\n[search]\nepochs = 2\n', "search.sampler"),
])
def test_a_missing_table_or_key_is_named_once(tmp_path, text, missing):
    recipe = tmp_path / "r.toml"
    recipe.write_text(text)
    result = cli("validate", recipe)
    assert result.exit_code == 2 and f"{recipe}: {missing}: required key is missing" in result.output, result.output


# ---- checkpoints --------------------------------------------------------------------------------


class _StopAfterFirstEpoch:
    """Asks the run to stop through the run context's named operation (an interrupted run)."""

    from automl_nas import hookimpl

    @hookimpl
    def automl_epoch_end(self, run, epoch):
        run.request_stop("test")


def test_a_damaged_checkpoint_is_refused_not_loaded(make_toy_recipe, tmp_path, monkeypatch):
    from automl_nas import session

    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(_StopAfterFirstEpoch(), "stopper")]))
    recipe = make_toy_recipe(count=32)
    run_dir = tmp_path / "r"
    stopped = cli("run", recipe, "-q", "--run-dir", run_dir, "--set", "search.epochs=3")
    assert stopped.exit_code == 130 and json.loads(stopped.stdout)["status"] == "interrupted"
    monkeypatch.setattr(session, "open_session", real)
    ckpt = run_dir / "checkpoints" / "last.pt"
    original = ckpt.read_bytes()
    data = bytearray(original)
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(255 - b for b in data[middle:middle + 64])  # 64 flipped bytes, same length
    ckpt.write_bytes(bytes(data))
    before = snapshot(run_dir)
    result = cli("run", "--resume", run_dir, "-q")
    assert result.exit_code == 5 and "does not match its checksum" in result.output
    assert snapshot(run_dir) == before
    ckpt.write_bytes(original)  # the intact checkpoint resumes and finishes
    assert cli("run", "--resume", run_dir, "-q").exit_code == 0

# ---- resume ---------------------------------------------------------------------------------------


def test_resume_refuses_what_it_would_ignore_and_reports_a_finished_run(finished_run):
    recipe, run_dir = finished_run
    before = snapshot(run_dir)
    refused = cli("run", "--resume", run_dir, "--set", "search.epochs=5", "-p", "quick")
    assert refused.exit_code == 2 and "--profile, --set would not be applied" in refused.output
    done = cli("run", "--resume", run_dir, "-q")
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "finished"
    assert snapshot(run_dir) == before


def test_empty_seeds_is_an_error_not_a_single_run(toy_recipe):
    result = cli("run", toy_recipe, "--seeds", "", "-q")
    assert result.exit_code == 2 and "--seeds" in result.output
    assert not (toy_recipe.parent / "runs").exists()


def test_a_backwards_seed_range_is_an_error_not_silently_fewer_seeds(toy_recipe):
    # "3-1,7" ran seed 7 alone: range(3, 2) is empty
    result = cli("run", toy_recipe, "--seeds", "3-1,7", "-q")
    assert result.exit_code == 2 and "--seeds '3-1,7': the range 3-1 runs backwards" in result.output
    assert "lower seed first: 1-3" in result.output and not (toy_recipe.parent / "runs").exists()


def test_a_seed_given_twice_is_an_error_not_two_trials_in_one_directory(toy_recipe):
    # "0,0" ran seed 0 twice into seed-0 and listed both in trials.csv
    result = cli("run", toy_recipe, "--seeds", "0-2,2,0", "-q")
    assert result.exit_code == 2 and "--seeds '0-2,2,0' names seeds 0, 2 more than once" in result.output
    assert not (toy_recipe.parent / "runs").exists()


@pytest.mark.parametrize("seeds, message", [
    ("0-2147483648", "seeds go from 0 to 2147483647"),  # a range past the bound was spelled out, then killed for memory
    ("0-100000", "more than 10,000 seeds in one batch"),  # minutes of CPU, then a batch directory
])
def test_a_seed_range_out_of_bounds_is_refused_before_it_is_spelled_out(toy_recipe, seeds, message):
    result = cli("run", toy_recipe, "--seeds", seeds, "-q")
    assert result.exit_code == 2 and f"--seeds '{seeds}': {message}" in result.output
    assert not (toy_recipe.parent / "runs").exists()


def test_an_unreachable_ray_address_fails_at_once(toy_recipe):
    started = time.perf_counter()
    result = cli("run", toy_recipe, "--seeds", "0", "--address", "127.0.0.1:1", "-q")
    assert result.exit_code == 5 and "cannot reach the Ray head at 127.0.0.1:1" in result.output
    assert time.perf_counter() - started < 20 and not (toy_recipe.parent / "runs").exists()


def test_a_stale_ray_address_whose_port_another_program_holds_fails_at_once(toy_recipe):
    """A port that accepts connections and says nothing (not a GCS): ray.init retried it for good."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    port = server.getsockname()[1]
    started = time.perf_counter()
    try:
        result = cli("run", toy_recipe, "--seeds", "0", "--address", f"127.0.0.1:{port}", "-q")
    finally:
        server.close()
    said = " ".join(result.output.split())
    assert result.exit_code == 5 and f"127.0.0.1:{port} accepts connections but does not answer as a Ray head's GCS " \
        "port does (it said nothing within 5 s" in said, said
    assert time.perf_counter() - started < 20 and not (toy_recipe.parent / "runs").exists()


def test_a_gcs_greeting_that_arrives_in_pieces_is_read_whole():
    """The probe took whatever one recv returned: a SETTINGS frame header split by TCP was refused
    as not a GCS's answer."""
    import socket

    from automl_nas.execution.cluster import _greeting, _http2_settings

    ours, theirs = socket.socketpair()
    frame = b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"  # an HTTP/2 SETTINGS frame's header, as a GCS sends

    def send_in_pieces():
        theirs.recv(64)  # the probe's request
        theirs.sendall(frame[:2])
        time.sleep(0.2)
        theirs.sendall(frame[2:])

    import threading

    sender = threading.Thread(target=send_in_pieces)
    sender.start()
    try:
        got = _greeting(ours)
    finally:
        sender.join()
        ours.close()
        theirs.close()
    assert got == frame and _http2_settings(got)


@pytest.mark.parametrize("key", ["cpus", "gpus"])
def test_trials_this_machine_cannot_hold_are_refused_before_ray_starts(toy_recipe, key):
    """More CPUs (or GPUs) per trial than this machine has: the private Ray queued every trial
    for good and the batch waited silently, its directory written."""
    here = os.cpu_count() if key == "cpus" else (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    started = time.perf_counter()
    result = cli("run", toy_recipe, "--seeds", "0-1", "--executor", "ray", "-q", "--set", f"executor.{key}={here + 1}")
    said = " ".join(result.output.split())
    assert result.exit_code == 5 and f"{toy_recipe}: each trial asks Ray for" in said, said
    assert f"but this machine has {os.cpu_count()} CPUs" in said and "Ray would hold every trial back for good" in said
    assert (f"--set executor.cpus={os.cpu_count()}" if key == "cpus" else "executor.gpus") in said
    assert time.perf_counter() - started < 20 and not (toy_recipe.parent / "runs").exists()


def test_validate_warns_of_trials_this_machine_cannot_hold(toy_recipe, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = cli("validate", toy_recipe, "--set", 'executor.name="ray"', "--set", f"executor.cpus={os.cpu_count() + 1}")
    assert result.exit_code == 0 and ": ok (" in result.output
    assert f"warning: executor.cpus = {os.cpu_count() + 1} but this machine has {os.cpu_count()} CPUs" in result.output
    assert "warning" not in cli("validate", toy_recipe, "--set", 'executor.name="ray"').output


# ---- failures mid-run -------------------------------------------------------------------------------


def test_a_record_write_failing_on_a_full_disk_keeps_the_old_file_and_removes_its_partial_copy(tmp_path, monkeypatch):
    import errno

    from automl_nas.errors import RunError
    from automl_nas.records import rundir

    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"epoch 3")

    def disk_full(fd):  # the new copy is half on disk when the device fills
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rundir.os, "fsync", disk_full)
    with pytest.raises(RunError, match=r"last\.pt: cannot write \(No space left on device\)"):
        rundir.atomic_write_bytes(checkpoint, b"epoch 4" * 100_000)
    # The partial copy would hold space the resume needs on the disk it filled.
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"] and checkpoint.read_bytes() == b"epoch 3"


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.63 GiB "
                           "of which 1.06 GiB is free. Including non-PyTorch memory, this process has 6.56 GiB memory "
                           "in use. Of the allocated memory 5.9 GiB is allocated by PyTorch"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
                 "allocate 27917287424 bytes. Error code 12 (Cannot allocate memory)"),
], ids=["cuda", "cpu"])
def test_running_out_of_memory_mid_run_is_a_run_error_with_the_ways_to_need_less(make_toy_recipe, monkeypatch, error):
    from automl_nas.engine.run import Search

    real = Search.weight_step

    def weight_step(self, x, y):
        if self.history:  # the second epoch's first step needs more than the device has
            raise error
        return real(self, x, y)

    monkeypatch.setattr(Search, "weight_step", weight_step)
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", "search.epochs=3")
    assert result.exit_code == 5 and "internal error" not in result.output and "Traceback" not in result.output
    (run_dir,) = list((recipe.parent / "runs").iterdir())
    assert "run error: out of memory on cpu after 1 finished epoch (" in result.stderr
    assert error.args[0][:60] in " ".join(result.stderr.split())  # torch's own words: how much was asked
    assert "Including non-PyTorch memory" not in result.stderr  # not its whole paragraph
    assert f"the last good checkpoint ({run_dir / 'checkpoints' / 'last.pt'}) is kept" in result.stderr
    assert "a smaller data.batch_size (the recipe's is" in result.stderr and "run.bf16 = true on a GPU" in result.stderr
    assert f"`automl run --resume {run_dir}` continues" in " ".join(result.stderr.split())
    written = json.loads((run_dir / "result.json").read_text())
    assert written["status"] == "failed" and written["epochs_done"] == 1 and "out of memory" in written["error"]


def test_a_supernet_or_data_set_too_big_for_the_device_is_refused_before_anything_is_written(make_toy_recipe,
                                                                                            monkeypatch):
    from automl_nas.engine.run import Search

    def build(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 150.00 MiB. GPU 0 has a total capacity "
                                     "of 7.63 GiB of which 20.06 MiB is free. Including non-PyTorch memory")

    monkeypatch.setattr(Search, "__init__", build)
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q")
    assert result.exit_code == 5 and "internal error" not in result.output
    assert ("out of memory on cpu while building the supernet and loading the data set onto it (CUDA out of memory. "
            "Tried to allocate 150.00 MiB") in " ".join(result.stderr.split())
    assert "nothing was written" in result.stderr and "space options such as channels" in result.stderr
    assert not (recipe.parent / "runs").exists() or not list((recipe.parent / "runs").iterdir())


def test_an_evaluator_out_of_memory_keeps_the_search_s_genotype_and_names_the_evaluator(make_toy_recipe, monkeypatch):
    from automl_nas_toy.space import CountConvs

    def evaluate(self, genotype, ctx):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB. GPU 0 has a total capacity of "
                                     "7.63 GiB of which 3.06 GiB is free. Process 4242 has 4 GiB memory in use")

    monkeypatch.setattr(CountConvs, "evaluate", evaluate)
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", "search.epochs=1")
    (run_dir,) = list((recipe.parent / "runs").iterdir())
    written = json.loads((run_dir / "result.json").read_text())
    # the search finished: its genotype stays, the score is an error `automl eval` can retry; no plugin is blamed
    assert written["status"] == "finished" and written["genotype"] and written.get("metrics") is None
    assert written["eval_error"].startswith("evaluator 'toy-count' ran out of memory on cpu scoring ")
    assert "Tried to allocate 9.00 GiB" in written["eval_error"] and "Process 4242" not in written["eval_error"]
    assert "from plugin" not in written["eval_error"] and written["eval_retry"] == f"automl eval {run_dir}"
    assert result.exit_code == 0, result.output
    # said on stderr too, even with -q (it was only in the JSON: a finished run with nothing on stderr)
    said = " ".join(result.stderr.split())
    assert "automl: warning: the final evaluation failed, the search's genotype is kept: evaluator 'toy-count' ran " \
           "out of memory" in said and f"then: `automl eval {run_dir}` scores it again" in said, said


def test_an_evaluator_s_own_bug_names_the_plugin_and_says_the_fix_may_be_the_plugin_s(make_toy_recipe, monkeypatch):
    from automl_nas_toy.space import CountConvs

    def evaluate(self, genotype, ctx):
        raise KeyError("boom-in-evaluator")

    monkeypatch.setattr(CountConvs, "evaluate", evaluate)
    result = cli("run", make_toy_recipe(count=32), "-q", "--set", "search.epochs=1")
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and "KeyError: 'boom-in-evaluator'" in said, said
    assert "if they are right, it is the plugin's bug" in json.loads(result.stdout)["eval_error"]


def test_other_runtime_errors_are_not_taken_for_running_out_of_memory():
    from automl_nas.errors import is_out_of_memory

    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x10 and 16x4)"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the allocators' RuntimeErrors say it
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated"))


@pytest.mark.parametrize("failing", [1, 2])
def test_a_checkpoint_that_no_longer_fits_names_the_resume_of_this_run_which_then_finishes(make_toy_recipe, monkeypatch,
                                                                                            failing):
    """The first checkpoint failing has nothing to resume: its hint named `--resume`, which then
    refused ("no checkpoint to resume from")."""
    import errno

    from automl_nas.records import rundir

    real_fsync, checkpoints = os.fsync, []

    def fills_at_a_checkpoint(fd):
        if re.search(r"last\.pt\.\d+\.tmp$", os.readlink(f"/proc/self/fd/{fd}")):
            checkpoints.append(fd)
            if len(checkpoints) == failing:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(rundir.os, "fsync", fills_at_a_checkpoint)
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", "search.epochs=3")
    (run_dir,) = list((recipe.parent / "runs").iterdir())
    stderr = " ".join(result.stderr.split())
    assert result.exit_code == 5 and "checkpoints/last.pt: cannot write (No space left on device)" in stderr
    assert not list(run_dir.rglob("*.tmp"))  # the half-written checkpoint is not left on the full disk
    monkeypatch.undo()
    if failing == 1:
        assert "start the run again with a new --run-dir" in stderr and f"--resume {run_dir}" not in stderr
        assert "no checkpoint to resume from" in cli("run", "--resume", str(run_dir), "-q").output
        return
    assert f"continue with `automl run --resume {run_dir}`" in stderr
    resumed = cli("run", "--resume", str(run_dir), "-q")
    assert resumed.exit_code == 0 and json.loads((run_dir / "result.json").read_text())["status"] == "finished"


class _DiskFullAfterFirstEpoch:
    """Stands in for a full disk: after epoch 0 the metrics file can no longer be appended to."""

    from automl_nas import hookimpl

    @hookimpl
    def automl_epoch_end(self, run, epoch):
        if epoch == 0:
            path = run.run_dir.metrics_file
            path.rename(path.with_name("metrics.saved"))
            path.mkdir()  # open(path, "a") now fails with an OSError


def test_a_record_write_failing_mid_run_is_a_run_error_that_keeps_finished_work(make_toy_recipe, monkeypatch):
    from automl_nas import session

    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(_DiskFullAfterFirstEpoch(), "disk")]))
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", "search.epochs=3")
    assert result.exit_code == 5 and "metrics.jsonl: cannot write" in result.output
    (run_dir,) = list((recipe.parent / "runs").iterdir())
    assert f"continue with `automl run --resume {run_dir}`" in " ".join(result.stderr.split())  # the command, whole
    assert json.loads((run_dir / "metrics.saved").read_text().splitlines()[0])["epoch"] == 0
    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"
    assert json.loads(result.stdout)["status"] == "failed"  # the summary still reaches stdout


def test_nan_before_any_checkpoint_does_not_claim_one(toy_recipe):
    result = cli("run", toy_recipe, "-q", "--set", "run.checkpoint_every=0", "--set", "search.epochs=2",
                 "--set", "search.weights_optimizer.lr=1e38", "--set", "search.weights_optimizer.grad_clip=0.0")
    assert result.exit_code == 5 and "no checkpoint had been written yet" in result.output
    assert "resume" not in result.output.split("fix:")[1].split("\n")[0].replace("resuming would repeat", "")


# ---- plugins and names --------------------------------------------------------------------------


def test_plugin_load_errors_are_shown_by_run(toy_recipe, monkeypatch):
    import types

    from automl_nas import hookimpl, session

    bad = types.ModuleType("typo")

    @hookimpl
    def automl_epoch_ends(run, epoch):  # misspelled
        pass

    bad.automl_epoch_ends = automl_epoch_ends
    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(bad, "typo")]))
    result = cli("run", toy_recipe, "-q", "--set", "search.epochs=1")
    assert result.exit_code == 0
    assert "automl: warning: plugin 'typo'" in result.output and "did you mean 'automl_epoch_end'" in result.output


def test_a_bad_genotype_says_why_each_space_refused_it():
    result = cli("eval", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|bad_op~2|",
                 "-e", "naswot", "--check")
    assert result.exit_code == 2 and "nb201: unknown op 'bad_op'" in result.output


def test_a_data_root_that_is_a_file_is_named(tmp_path):
    from automl_nas.errors import DataError
    from automl_nas_data_vision.cifar import Cifar10
    from automl_nas_data_vision.config import CifarConfig

    (tmp_path / "root").write_text("not a directory")
    with pytest.raises(DataError, match="is a file, not a directory"):
        Cifar10(CifarConfig(root=str(tmp_path / "root"), download=True)).load()


def test_an_automl_nas_home_that_is_a_file_is_named_not_blamed_on_the_download(tmp_path, monkeypatch):
    """The download failed with NotADirectoryError and its hint said to unpack the files into a
    folder under the file."""
    from automl_nas.errors import DataError
    from automl_nas_data_vision.cifar import Cifar10
    from automl_nas_data_vision.config import CifarConfig

    (tmp_path / "home").write_text("not a directory")
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    with pytest.raises(DataError, match=r"a folder above the data root .*home is a file, not a directory") as info:
        Cifar10(CifarConfig(download=True)).load()
    assert "AUTOML_NAS_HOME to a directory" in info.value.hint


@pytest.mark.parametrize("data", ["{name='cifar10'}", "{name='pyg', dataset='cora'}",
                                  "{name='pyg', dataset='cora', download=true}"])
def test_validate_names_an_automl_nas_home_that_is_a_file_for_every_data_set(tmp_path, data):
    """Only cifar's download said so; without it (and for PyG) the fix was to download or copy the
    files into a folder under the file."""
    home = tmp_path / "home"
    home.write_text("not a directory")
    recipe = Path(__file__).resolve().parents[1] / "recipes" / ("gnn-darts.toml" if "pyg" in data else "snas.toml")
    result = CliRunner(env={"AUTOML_NAS_HOME": str(home)}).invoke(
        main, ["validate", str(recipe), "--build", "-p", "quick", "--set", f"data={data}"])
    text = " ".join(result.output.split())
    assert result.exit_code != 0 and f"a folder above the data root {home} is a file, not a directory" in text, text
    assert "AUTOML_NAS_HOME to a directory" in text and "download = true" not in text


def test_an_unexpected_exception_is_one_paragraph_with_exit_1(toy_recipe, monkeypatch):
    from automl_nas.engine import run as engine_run

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(engine_run, "execute", broken)
    result = cli("run", toy_recipe, "-q")
    assert result.exit_code == 1 and "internal error: ZeroDivisionError: a bug" in result.output
    assert "AUTOML_NAS_DEBUG=1" in result.output


def test_ray_address_from_the_environment_is_used_and_checked(toy_recipe, monkeypatch):
    # `ray job submit` hands the job's driver the cluster in RAY_ADDRESS (issue 14): it is joined, not ignored.
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    result = cli("run", toy_recipe, "--seeds", "0", "--executor", "ray", "-q")
    assert result.exit_code == 5 and "cannot reach the Ray head at 127.0.0.1:1" in result.output
    assert not (toy_recipe.parent / "runs").exists()


def test_a_ray_client_address_is_refused_with_the_supported_entry_points(toy_recipe):
    result = cli("run", toy_recipe, "--seeds", "0", "--address", "ray://127.0.0.1:10001", "-q")
    assert result.exit_code == 5 and "Ray Client (ray://) is not supported" in result.output
    assert "ray job submit" in result.output and not (toy_recipe.parent / "runs").exists()


def test_a_cuda_trial_without_a_gpu_reservation_is_refused_on_ray(toy_recipe):
    result = cli("run", toy_recipe, "--seeds", "0", "--executor", "ray", "--set", "run.device=cuda", "-q")
    assert result.exit_code == 2 and "executor.gpus = 0" in result.output and "--set executor.gpus=1" in result.output
    assert not (toy_recipe.parent / "runs").exists()


def test_a_reader_that_goes_away_ends_the_command_quietly_not_as_an_internal_error():
    import subprocess
    import sys
    from pathlib import Path

    automl = Path(sys.executable).parent / "automl"
    proc = subprocess.Popen([str(automl), "plugins"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # `automl plugins | true`: the reader is gone before the first write (after a first line read, the
    # whole listing could already sit in the pipe's buffer and the command end 0 under load)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_ranked_trial_holding_fewer_gpus_than_ranks_is_refused_before_anything_runs(tmp_path, make_toy_recipe):
    import pytest

    from automl_nas.errors import RecipeError
    from automl_nas.execution.trials import run_seed_trials

    recipe = make_toy_recipe(count=32)
    with pytest.raises(RecipeError, match=r"executor.ranks = 2 on CUDA needs a GPU per rank, but executor.gpus = 1"):
        run_seed_trials(recipe, seeds=[0], executor="ray", run_dir=tmp_path / "b", quiet=True,
                        overrides=["executor.ranks=2", "executor.gpus=1", 'run.device="auto"'])
    assert not (tmp_path / "b").exists()


def test_a_cuda_index_the_machine_lacks_is_refused_before_the_run_directory_is_made(make_toy_recipe, monkeypatch):
    # torch would only fail at the first tensor moved there ("invalid device ordinal"), mid-setup
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    recipe = make_toy_recipe(count=32)
    result = cli("run", recipe, "-q", "--set", "run.device='cuda:2'")
    assert result.exit_code == 5, result.output
    assert "run.device = 'cuda:2' but this machine has 2 CUDA devices (cuda:0 to cuda:1)" in result.output
    assert not (recipe.parent / "runs").exists()
    assert resolve_device("cuda:1") == "cuda:1"


def test_more_threads_than_cores_is_warned_about(monkeypatch, capsys):
    import automl_nas.devices as devices

    before = torch.get_num_threads()
    monkeypatch.setattr(devices, "usable_cores", lambda: 2)
    try:
        devices.set_threads(2)
        assert capsys.readouterr().err == "" and torch.get_num_threads() == 2
        devices.set_threads(8, key="evaluator.threads")
        err = capsys.readouterr().err
        assert "evaluator.threads = 8 is more than the 2 CPU cores" in err and "fix: evaluator.threads = 2" in err
        assert torch.get_num_threads() == 8  # a warning, not a refusal: the user may know better
    finally:
        torch.set_num_threads(before)


def test_a_black_box_metric_the_evaluator_lacks_is_refused_before_the_run_directory(tmp_path):
    # found only by the first query's result, in a run directory that then refused the fixed command
    recipe = str(REPO / "recipes" / "morphism-nb201.toml")
    result = cli("search", recipe, "-p", "quick", "-q", "--set", "blackbox.report='cifar10_analg'",
                 "--run-dir", str(tmp_path / "s"))
    assert result.exit_code == 2 and "blackbox.report = 'cifar10_analg'" in result.output
    assert "did you mean 'cifar10_analog'?" in result.output and not (tmp_path / "s").exists()
    assert cli("search", recipe, "-p", "quick", "-q", "--run-dir", str(tmp_path / "s")).exit_code == 0
    again = cli("search", recipe, "-p", "quick", "-q", "--run-dir", str(tmp_path / "s"))
    assert again.exit_code == 5 and f"`automl search --resume {tmp_path / 's'}`" in again.output  # not `automl run`


@pytest.mark.parametrize("recipe, override, message", [
    # each was an internal error at the first step: no loss to differentiate, a KeyError on the
    # space's costs, a graph batch asked for its memory format
    ("snas.toml", "search.objectives=[]", "search.objectives: the list is empty, so no objective gives the weights step"),
    ("snas.toml", 'search.objectives=[{name="snas_resource"}]',
     "no objective contributes to the weights step (the objectives are ['snas_resource'])"),
    ("gnn-darts.toml", 'search.objectives=[{name="cross_entropy"}, {name="snas_resource"}]',
     "search.objectives[1].costs: the 'gnn' space gives no per-op flops, mac (it gives params)"),
    ("gnn-darts.toml", "run.channels_last=true", "run.channels_last = true: data set 'sbm' is a graph, not images"),
    ("gnn-darts.toml", "data.limit=10", "gnn-darts.toml: data.limit = 10: data set 'sbm' is a graph"),
], ids=["no-objective", "no-task-loss", "costs-the-space-lacks", "graph-channels-last", "graph-limit"])
def test_a_run_its_components_cannot_serve_is_refused_before_its_directory(tmp_path, recipe, override, message):
    result = cli("run", REPO / "recipes" / recipe, "-p", "quick", "-q", "--set", override,
                 "--set", f"run.root={str(tmp_path / 'r')!r}")
    assert result.exit_code == 2 and message in result.output, result.output
    assert "internal error" not in result.output and not (tmp_path / "r").exists()


def test_validate_refuses_an_empty_objective_list_that_run_would_refuse():
    # validate said "ok" and the run stopped once its data was loaded
    result = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", "search.objectives=[]")
    assert result.exit_code == 2 and "search.objectives: the list is empty" in result.output, result.output


def test_a_relative_input_file_missing_from_the_working_directory_says_where_it_looked(tmp_path, monkeypatch):
    """A shipped recipe run from another directory: its latency table lies next to it, but a
    recipe's relative paths start at the working directory (what a Ray cluster receives)."""
    recipe = REPO / "recipes" / "gnn-latency-study.toml"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(recipe)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    text = " ".join(result.output.split())
    assert (f"latency_table: latency table recipes/gnn-latency-cora.json does not exist in the working directory "
            f"{tmp_path}") in text, text
    assert "run automl from the directory the path starts at, or give an absolute path" in text
    absolute = CliRunner().invoke(main, ["validate", str(recipe), "--set",
                                         "search.objectives.1.latency_table='/nowhere/lat.json'"])
    assert "latency table /nowhere/lat.json does not exist;" in " ".join(absolute.output.split()), absolute.output


@pytest.mark.parametrize("recipe, network", [("snas.toml", "NAS-Bench-201"), ("darts.toml", "DARTS search")])
def test_images_the_network_cannot_halve_twice_are_refused_before_the_run_directory(tmp_path, recipe, network):
    run_dir = tmp_path / "r"
    result = cli("run", REPO / "recipes" / recipe, "-p", "quick", "-q", "--set", "data.size=18", "--run-dir", run_dir)
    assert result.exit_code == 4, result.output
    assert f"images of 18x18 do not fit the {network} network" in result.output and "divisible by 4" in result.output
    assert "e.g. 16x16" in result.output and not run_dir.exists()


def test_a_network_for_images_it_cannot_take_is_refused_at_build_and_export(tmp_path):
    from automl_nas.api import InputSpec, check_halvings
    from automl_nas.errors import DataError

    check_halvings(InputSpec(height=32, width=12), 2, network="n")
    for h, w in ((18, 16), (16, 30), (33, 17)):  # 30 -> 15 would broadcast a 1-pixel shortcut silently
        with pytest.raises(DataError, match=f"images of {h}x{w} do not fit the n network"):
            check_halvings(InputSpec(height=h, width=w), 2, network="n")
    genotype = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    out = cli("export", genotype, "--input", "3x30x16", "--out", tmp_path / "x")
    assert out.exit_code == 4 and "images of 30x16 do not fit the NAS-Bench-201 network" in out.output
    assert not (tmp_path / "x").exists()


def test_an_export_into_a_run_directory_is_refused_and_the_run_untouched(finished_run):
    _, run_dir = finished_run
    before = snapshot(run_dir)
    out = cli("export", run_dir, "--out", run_dir)
    assert out.exit_code == 5 and f"--out {run_dir} is a run directory" in out.output
    assert f"--out {run_dir / 'export'}" in out.output and snapshot(run_dir) == before


def test_a_signal_during_the_final_evaluation_ends_the_run_interrupted_and_resume_scores_it(make_toy_recipe, tmp_path,
                                                                                          monkeypatch):
    import signal

    from automl_nas.engine import run as engine

    real = engine.score

    def stopped_while_scoring(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` would, while a retraining runs
        time.sleep(5)  # the handler raises before this ends
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "score", stopped_while_scoring)
    recipe, run_dir = make_toy_recipe(count=32), tmp_path / "r"
    stopped = cli("run", recipe, "-q", "--run-dir", run_dir, "--set", "search.epochs=2")
    assert stopped.exit_code == 130, stopped.output
    assert "stopped by SIGTERM while evaluator 'toy-count' scored the found genotype, after all 2 epochs" in stopped.output
    assert f"resume with `automl run --resume {run_dir}`" in stopped.output
    written = json.loads((run_dir / "result.json").read_text())
    assert written["status"] == "interrupted" and written["genotype"] and written["epochs_done"] == 2
    monkeypatch.undo()
    resumed = cli("run", "--resume", run_dir, "-q")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["metrics"]["convs"] >= 0


def test_a_run_stopped_before_any_checkpoint_does_not_promise_one(make_toy_recipe, tmp_path, monkeypatch):
    from automl_nas import session

    real = session.open_session
    monkeypatch.setattr(session, "open_session", lambda extra=(): real([(_StopAfterFirstEpoch(), "stopper")]))
    run_dir = tmp_path / "r"
    stopped = cli("run", make_toy_recipe(count=32), "-q", "--run-dir", run_dir, "--set", "search.epochs=3",
                  "--set", "run.checkpoint_every=0")
    assert stopped.exit_code == 130 and "no checkpoint had been written yet" in stopped.output, stopped.output
    assert f"start it again: `automl run {run_dir / 'recipe.toml'}`" in stopped.output
    assert "--resume" not in stopped.output


def test_an_address_that_is_a_web_server_or_unreachable_is_refused_before_any_directory(toy_recipe, tmp_path):
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)  # as the dashboard
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        web = cli("run", toy_recipe, "--seeds", "0", "--address", f"127.0.0.1:{port}", "-q")  # Ray retried it for good
        assert web.exit_code == 5 and f"127.0.0.1:{port} answers HTTP" in web.output and "6379" in web.output
    finally:
        server.shutdown()
    dashboard = cli("run", toy_recipe, "--seeds", "0", "--address", "http://127.0.0.1:8265", "-q")
    assert dashboard.exit_code == 5 and "is a dashboard's" in dashboard.output
    study = toy_recipe.parent / "study.toml"
    study.write_text(toy_recipe.read_text() + '\n[study]\nname = "s"\nparallelism = 2\nmetric = "metrics.convs"\n'
                     '[study.params]\n"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1 }\n')
    unreachable = cli("study", study, "--address", "127.0.0.1:1", "-q")
    assert unreachable.exit_code == 5 and "cannot reach the Ray head at 127.0.0.1:1" in unreachable.output
    search = cli("search", REPO / "recipes" / "morphism-nb201.toml", "-p", "quick", "-q", "--set", "blackbox.parallel=2",
                 "--set", "executor.address='127.0.0.1:1'", "--set", f"run.root={str(tmp_path / 's')!r}")
    assert search.exit_code == 5 and "cannot reach the Ray head at 127.0.0.1:1" in search.output
    assert not (toy_recipe.parent / "runs").exists() and not (tmp_path / "s").exists()


def test_records_are_not_kept_in_ray_s_copy_of_a_job_s_working_directory(toy_recipe, tmp_path, monkeypatch):
    # `ray job submit --working-dir .` starts the driver in .../working_dir_files/_ray_pkg_<hash>, which Ray deletes
    package = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_0123abcd"
    package.mkdir(parents=True)
    recipe = package / "toy.toml"
    recipe.write_text(toy_recipe.read_text().replace(f'root = "{toy_recipe.parent / "runs"}"', 'root = "runs"'))
    monkeypatch.chdir(package)
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_0123abcd.zip"}}))
    for extra in ((), ("--seeds", "0")):
        refused = cli("run", recipe, "-q", *extra)
        assert refused.exit_code == 5 and "lies in Ray's copy of the job's working directory" in refused.output
        assert "--run-dir on a file system that outlives the job" in refused.output
    assert not (package / "runs").exists()
    kept = cli("run", recipe, "-q", "--run-dir", tmp_path / "kept", "--set", "search.epochs=1")
    assert kept.exit_code == 0, kept.output


def test_an_evaluator_that_cannot_score_the_space_or_data_is_refused_before_the_run_directory(tmp_path):
    """retrain on a graph, a NAS-Bench-201 table for the gnn space, gnn-train on images: each ran
    the whole search and then recorded eval_error (validate and preflight said nothing)."""
    from automl_nas.cli import main
    from click.testing import CliRunner

    recipes = Path(__file__).resolve().parents[1] / "recipes"
    cases = [("gnn-darts.toml", 'evaluator={name="retrain", epochs=1}', 4, "retrain trains image networks"),
             ("gnn-darts.toml", 'evaluator={name="analog-nasbench"}', 2, "looks up NAS-Bench-201 cells, and the space is 'gnn'"),
             ("gnn-darts.toml", 'evaluator={name="synflow"}', 4, "zero-cost proxies score image networks"),
             ("darts-nb201.toml", 'evaluator={name="gnn-train"}', 4, "trains on a graph, but the data set 'digits' holds images"),
             ("darts-nb201.toml", 'evaluator={name="nas-bench-graph"}', 2, "scores architectures of the 'gnn' space, not 'nb201'")]
    for i, (recipe, override, code, message) in enumerate(cases):
        run_dir = tmp_path / f"run{i}"
        out = CliRunner().invoke(main, ["run", str(recipes / recipe), "-p", "quick", "-q", "--set", override,
                                        "--run-dir", str(run_dir)])
        assert out.exit_code == code and f"{recipes / recipe}: evaluator: " in out.output and message in out.output, (
            override, out.output)
        assert not run_dir.exists()
    out = CliRunner().invoke(main, ["eval", "link=[0,1,1,1] ops=[gcn,gcn,gcn,gcn]", "-e", "gnn-train",
                                    "--work-dir", str(tmp_path / "w")])
    assert out.exit_code == 4 and "no data set was given" in out.output and "--data sbm" in out.output
    assert not (tmp_path / "w").exists()


def test_a_string_where_a_list_is_expected_is_refused_not_split_into_letters(tmp_path):
    """`run.trackers = "csv"` was read as the trackers 'c', 's' and 'v'."""
    from automl_nas.cli import main
    from click.testing import CliRunner

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "snas.toml"
    out = CliRunner().invoke(main, ["validate", str(recipe), "-p", "quick", "--set", 'run.trackers="tensorboard"'])
    assert out.exit_code == 2
    assert 'run.trackers: expected a list such as ["tensorboard"], got the string "tensorboard"' in out.output
    assert "'t'" not in out.output


@pytest.mark.parametrize("override, message", [
    # each was an internal error, or a Python message with its type name read as a key
    ("search.arch_optimizer.betas.0.y=0.1", "search.arch_optimizer.betas.0 is a value, not a table; cannot set "
                                            "search.arch_optimizer.betas.0.y"),
    ("study=3", "snas.toml: study: expected a table, got int 3"),
    ("blackbox=3", "snas.toml: blackbox: expected a table, got int 3"),
    ("run.tracker_options.wandb=3", "snas.toml: run.tracker_options.wandb: expected a table, got int 3"),
    ('name=""', "snas.toml: name: must not be empty"),
    # a typo in a table or a string became a string, and the error named another problem
    ('data={name="npz"', "--set 'data={name=\"npz\"': the value is not valid TOML (Unclosed inline table"),
    ('description="unterminated', "the value is not valid TOML (Unterminated string"),
    # a list the recipe leaves to its default has no items to index
    ("search.objectives.0.weight=2", "search.objectives is not written in the recipe, so it has no item 0 to change"),
    # a profile set from the command line vanished ("profile: unknown key")
    ("profile.quick.x=1", "--set 'profile.quick.x=1': a profile is chosen with -p NAME, not set with --set"),
])
def test_malformed_overrides_name_the_key_and_the_problem(override, message):
    result = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", override)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and message in text, text
    assert "internal error" not in text and "object has no attribute" not in text


def test_an_empty_key_is_shown_as_one(tmp_path):
    recipe = tmp_path / "e.toml"
    recipe.write_text('"" = 1\n' + (REPO / "recipes" / "snas.toml").read_text())
    result = cli("validate", recipe, "-p", "quick")
    assert result.exit_code == 2 and 'e.toml: "": unknown key' in result.output, result.output  # was "e.toml: : unknown key"


def test_a_profile_that_is_not_a_table_is_a_recipe_error(tmp_path):
    recipe = tmp_path / "p.toml"
    recipe.write_text((REPO / "recipes" / "snas.toml").read_text().replace("[profile.quick]", "[profile]\nquick = 3\n[profile.x]"))
    result = cli("validate", recipe, "-p", "quick")
    assert result.exit_code == 2 and "p.toml: profile.quick: expected a table of overrides" in result.output, result.output


def test_a_typo_in_data_is_offered_the_host_s_data_keys_too():
    # "did you mean 'size'? (allowed: seed, size, test_count)": batch_size was not among them
    result = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", "data.bach_size=3")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "data.bach_size: unknown key; did you mean 'batch_size'?" in text, text
    assert "batch_size" in text.split("allowed:")[1] and "test_count" in text.split("allowed:")[1]


@pytest.mark.parametrize("recipe, override, message", [
    # validate said ok; the run counted the term twice, or the study spent a whole trial first
    ("snas.toml", 'search.objectives=[{name="cross_entropy"},{name="cross_entropy"}]',
     "search.objectives[1]: the same objective as search.objectives[0]"),
    ("studies/gdas-temperature.toml", 'study.intermediate=""', "study.intermediate = '': empty"),
    ("studies/gdas-temperature.toml", 'study.metric="metrics.cifar10_analog.x"',
     "'metrics' holds numbers by name (metrics.NAME), so 'metrics.cifar10_analog.x' goes below a number"),
], ids=["twice", "empty-intermediate", "below-a-metric"])
def test_validate_refuses_what_the_run_or_study_would_trip_over(recipe, override, message):
    result = cli("validate", REPO / "recipes" / recipe, "-p", "quick", "--set", override)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_a_key_the_profile_set_is_named_as_the_profile_s():
    # "data.size: unknown key" for a key the user never wrote: -p quick sets it for its digits
    result = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", "data.name=cifar10")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "data.size: unknown key" in text and "(set by [profile.quick])" in text, text
    assert "--set 'data={name=\"cifar10\"}' replaces the profile's [data]" in text
    assert cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", 'data={name="cifar10"}').exit_code != 2
    # a table the user gave whole is the user's, not the profile's
    own = cli("validate", REPO / "recipes" / "snas.toml", "-p", "quick", "--set", 'data={name="digits", size=16, batch_size=0}')
    assert own.exit_code == 2 and "data.batch_size" in own.output and "set by [profile" not in own.output, own.output


@pytest.mark.parametrize("make, exit_code, message", [
    (lambda d: "", 2, "--run-dir is empty (an unset shell variable?)"),
    (lambda d: d / ("x" * 300), 5, "cannot be used: File name too long"),
    (lambda d: (d.joinpath("a").symlink_to(d / "b"), d.joinpath("b").symlink_to(d / "a"), d / "a")[-1], 5,
     "cannot be used: Symlink loop"),
    (lambda d: (d.joinpath("gone").symlink_to(d / "nowhere" / "x"), d / "gone")[-1], 5,
     "is a link to"),
])
def test_a_run_directory_the_file_system_cannot_take_is_refused_naming_it(toy_recipe, tmp_path, monkeypatch, make,
                                                                          exit_code, message):
    """An empty --run-dir wrote the run into the current directory; a name over 255 bytes and a
    link that loops were internal errors; a link to nothing was 'File exists'."""
    where = tmp_path / "here"
    where.mkdir()
    monkeypatch.chdir(where)
    run_dir = make(where)
    before = sorted(p.name for p in where.iterdir())
    result = cli("run", toy_recipe, "-q", "--run-dir", run_dir)
    assert result.exit_code == exit_code and message in " ".join(result.output.split()), result.output
    assert sorted(p.name for p in where.iterdir()) == before  # nothing written


def test_a_recipe_name_too_long_for_a_directory_is_shortened_not_an_internal_error(toy_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("run", toy_recipe, "-q", "--set", f'name="{"n" * 300}"', "--set", "run.root='runs'")
    assert result.exit_code == 0, result.output
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("n" * 120 + "-") and len(made.name) < 255


@pytest.mark.parametrize("command, what", [
    (["run", "{recipe}", "-q", "--seeds", "0-1", "--run-dir", "{loop}"], "seed batch directory"),
    (["eval", "toy:conv_3x3,skip_connect,avg_pool_3x3", "-e", "toy-count", "--work-dir", "{loop}"], "work directory"),
    (["export", "toy:conv_3x3,skip_connect,avg_pool_3x3", "--out", "{loop}"], "export directory"),
])
def test_every_command_names_a_directory_link_that_loops(toy_recipe, tmp_path, monkeypatch, command, what):
    """Only `run --run-dir` and `search --run-dir` named it: seed batches and studies were internal
    errors, eval said "File exists" and export "holds another export"."""
    monkeypatch.chdir(tmp_path)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    result = cli(*(part.format(recipe=toy_recipe, loop=loop) for part in command))
    assert result.exit_code == 5 and f"{what} {loop} cannot be used" in " ".join(result.output.split()), result.output


def test_a_study_root_that_loops_is_named(make_toy_recipe, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    tail = ('[study]\nname = "s"\nmetric = "metrics.convs"\n[study.params]\n'
            '"search.arch_optimizer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }\n')
    result = cli("study", make_toy_recipe(count=32, tail=tail), "-q", "--set", f"study.root='{loop}'")
    assert result.exit_code == 5 and f"study root {loop} cannot be used" in " ".join(result.output.split()), result.output


def test_a_directory_turned_read_only_keeps_the_work_s_own_error_not_the_lock_s(tmp_path, monkeypatch):
    """Removing the lock of a directory that turned read-only raised in the lock's finally and
    replaced the run's error with an internal error naming .lock."""
    import errno

    from automl_nas.errors import RunError
    from automl_nas.records import lock

    real = Path.unlink

    def unlink(self, missing_ok=False):
        if self.name == lock.LOCK_NAME:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, missing_ok=missing_ok)

    with pytest.raises(RunError, match="history.jsonl: cannot write"):
        with lock.directory_lock(tmp_path, what="search"):
            monkeypatch.setattr(Path, "unlink", unlink)
            raise RunError(f"{tmp_path / 'history.jsonl'}: cannot write (Read-only file system)")
