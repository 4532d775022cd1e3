"""`automl export`: TorchScript and ONNX files compute what the in-framework network computes, and
retrain.toml is accepted by `automl eval`, for a tiny NB201 and a tiny DARTS network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from automl_nas.api import InputSpec
from automl_nas.cli import main

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.load` is deprecated:FutureWarning")

DRNAS_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
INPUTS = InputSpec(channels=3, height=8, width=8, num_classes=4)
TINY = {"nb201": {"channels": 4, "cells_per_stage": 1}, "darts": {"eval_channels": 4, "eval_layers": 3}}


def _darts_genotype() -> str:
    from automl_nas_space_darts.space import DartsSpace

    params = {g: torch.randn(14, 8, generator=torch.Generator().manual_seed(1)) for g in ("normal", "reduce")}
    return DartsSpace().derive(params).text


def _space(name: str):
    from automl_nas.recipe.converter import structure
    from automl_nas_space_darts.config import DartsConfig
    from automl_nas_space_darts.space import DartsSpace
    from automl_nas_space_nb201.config import Nb201Config
    from automl_nas_space_nb201.space import Nb201Space

    cls, config = {"nb201": (Nb201Space, Nb201Config), "darts": (DartsSpace, DartsConfig)}[name]
    return cls(structure(TINY[name], config, source="test"))


def _reference(space_name: str, text: str, seed: int = 0):
    """The in-framework network export builds: the space's network under manual_seed(seed), eval mode."""
    space = _space(space_name)
    torch.manual_seed(seed)
    return space.build_network(space.parse(text), INPUTS).eval()


def _export(target: str, out: Path, *extra: str):
    sets = [a for k, v in TINY[_space_of(target)].items() for a in ("--set", f"{k}={json.dumps(v)}")]
    return CliRunner().invoke(main, ["export", target, "--out", str(out), "--input", "3x8x8", "--classes", "4", *sets, *extra])


def _space_of(text: str) -> str:
    return "darts" if text.startswith("Genotype(") else "nb201"


def _blobs_npz(path: Path, n: int = 96) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(n) % 4
    x = rng.integers(0, 256, (n, 3, 8, 8)).astype(np.uint8)
    np.savez(path, x=x, y=y)
    return path


def _outputs(out: Path, x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    scripted = torch.jit.load(str(out / "model.pt"))
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        return scripted(x), onnx_out


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_exported_files_match_the_network_and_retrain_toml_runs(space_name, tmp_path):
    text = DRNAS_CELL if space_name == "nb201" else _darts_genotype()
    result = _export(text, tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    record = json.loads((out / "genotype.json").read_text())
    assert record["space"] == space_name and record["text"] == text and record["source_run"] is None
    assert all(record["space_options"][k] == v for k, v in TINY[space_name].items())
    assert record["inputs"] == {"channels": 3, "height": 8, "width": 8, "num_classes": 4}

    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(7))  # batch 3: the batch axis is dynamic
    with torch.no_grad():
        expected = _reference(space_name, text)(x)
    scripted, onnx_out = _outputs(out, x)
    assert torch.allclose(scripted, expected, atol=1e-4)
    np.testing.assert_allclose(onnx_out, expected.numpy(), atol=1e-4)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [3, 8, 8] and not isinstance(session.get_inputs()[0].shape[0], int)

    npz = _blobs_npz(tmp_path / "d.npz")
    network = "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in TINY[space_name].items()) + "}"
    run = CliRunner().invoke(main, ["eval", str(out / "retrain.toml"), "--profile", "quick", "-q",
                                    "--data", f'{{name="npz", path={json.dumps(str(npz))}, test_fraction=0.25}}',
                                    "--set", f"network={network}", "--set", "batch_size=24",
                                    "--work-dir", str(tmp_path / "wd")])
    assert run.exit_code == 0, run.output
    evaluated = json.loads(run.stdout)
    assert evaluated["genotype"] == text and evaluated["evaluator"] == "retrain"
    assert evaluated["metrics"]["epochs"] == 1.0  # the quick profile of retrain.toml


def test_export_with_retrained_weights(tmp_path):
    npz = _blobs_npz(tmp_path / "d.npz")
    work = tmp_path / "wd"
    run = CliRunner().invoke(main, ["eval", DRNAS_CELL, "-e", "retrain", "-q", "--work-dir", str(work),
                                    "--data", f'{{name="npz", path={json.dumps(str(npz))}, test_fraction=0.25}}',
                                    "--set", "epochs=1", "--set", "batch_size=24",
                                    "--set", 'network={channels=4, cells_per_stage=1}'])
    assert run.exit_code == 0, run.output
    (checkpoint,) = work.glob("retrain/*/last.pt")
    # The space options come from the checkpoint's job.json, whatever the space's defaults are.
    result = CliRunner().invoke(main, ["export", DRNAS_CELL, "--out", str(tmp_path / "out"), "--input", "3x8x8",
                                       "--classes", "4", "--weights", str(checkpoint), "--onnx-exporter", "legacy"])
    assert result.exit_code == 0, result.output
    trained = _reference("nb201", DRNAS_CELL)
    trained.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = trained(x)
        assert not torch.allclose(expected, _reference("nb201", DRNAS_CELL)(x), atol=1e-3)  # the weights matter
    scripted, onnx_out = _outputs(tmp_path / "out", x)
    assert torch.allclose(scripted, expected, atol=1e-4)
    np.testing.assert_allclose(onnx_out, expected.numpy(), atol=1e-4)
    assert json.loads((tmp_path / "out" / "genotype.json").read_text())["weights"] == str(checkpoint)
    # Plain PyTorch: the exported network comes back as an eager module with the trained weights.
    from automl_nas import build_model, load_model

    loaded = load_model(tmp_path / "out")
    assert not isinstance(loaded, torch.jit.ScriptModule) and not loaded.training
    with torch.no_grad():
        assert torch.allclose(loaded(x), expected, atol=1e-5)
    fresh = build_model(DRNAS_CELL, inputs=loaded_inputs(), channels=4, cells_per_stage=1)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in loaded.state_dict().items()}


def loaded_inputs():
    from automl_nas import InputSpec

    return InputSpec(channels=3, height=8, width=8, num_classes=4)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--input", "3x8"], 2, "--input '3x8': expected CxHxW"),
    (["--space", "darts"], 2, "not a valid 'darts' genotype"),
])
def test_export_errors(args, code, message, tmp_path):
    result = CliRunner().invoke(main, ["export", DRNAS_CELL, "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == code and message in result.stderr, result.output
    assert "Traceback" not in result.output


def test_an_export_that_fills_the_disk_is_a_run_error_naming_the_file_and_keeps_earlier_files(tmp_path, monkeypatch):
    """torch's writers, given a path, abort the process on a full disk (seen on a 100 KB tmpfs: a
    C++ exception in PyTorchStreamWriter's destructor). Every file is built in memory and written
    whole by the records' writer, so a full disk is an error that names the file and the fix."""
    import errno
    import os
    import re

    from automl_nas.records import rundir

    out = tmp_path / "out"
    assert _export(DRNAS_CELL, out).exit_code == 0
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fsync = os.fsync

    def full_at_onnx(fd):  # model.pt still fits; the disk fills while model.onnx is written
        if re.search(r"model\.onnx\.\d+\.tmp$", os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(rundir.os, "fsync", full_at_onnx)
    result = _export(DRNAS_CELL, out)
    assert result.exit_code == 5 and "Traceback" not in result.output
    assert f"{out / 'model.onnx'}: cannot write (No space left on device)" in result.stderr
    assert "fix: free disk space there or pass another --out DIR, then export again" in result.stderr
    assert "--resume" not in result.stderr  # no run to resume here
    # model.pt was written again, whole (TorchScript files differ byte-wise between traces); the
    # files after it are as the first export left them, no partial copy is left, and genotype.json,
    # the record that the folder is whole, is gone until the export completes
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(written) == ["genotype.json", "model.onnx", "model.pt", "retrain.toml"]
    assert sorted(now) == ["model.onnx", "model.pt", "retrain.toml"]
    assert all(now[name] == written[name] for name in ("model.onnx", "retrain.toml"))
    torch.jit.load(str(out / "model.pt"))
    monkeypatch.undo()
    assert _export(DRNAS_CELL, out).exit_code == 0 and (out / "genotype.json").read_bytes() == written["genotype.json"]


def test_the_export_records_how_images_were_normalised_for_the_network(tmp_path):
    from automl_nas.session import open_session

    npz = _blobs_npz(tmp_path / "d.npz")
    data = f'{{name="npz", path={json.dumps(str(npz))}, test_fraction=0.25}}'
    result = CliRunner().invoke(main, ["export", DRNAS_CELL, "--out", str(tmp_path / "out"), "--data", data,
                                       "--onnx-exporter", "legacy"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "genotype.json").read_text())
    registry = open_session().registry
    config = registry.get("dataset", "npz").config(path=str(npz), test_fraction=0.25)
    images = registry.create("dataset", "npz", config).load()
    assert record["preprocess"]["mean"] == pytest.approx(list(images.mean))
    assert record["preprocess"]["std"] == pytest.approx(list(images.std))
    assert record["inputs"]["height"] == 8 and "x / 255" in record["preprocess"]["scale"]
    shaped = CliRunner().invoke(main, ["export", DRNAS_CELL, "--out", str(tmp_path / "bare"), "--input", "3x8x8",
                                       "--onnx-exporter", "legacy"])
    assert shaped.exit_code == 0 and json.loads((tmp_path / "bare" / "genotype.json").read_text())["preprocess"] is None


def test_a_graph_genotype_string_is_refused_before_any_file_not_a_tracing_error(tmp_path):
    """Without a data set to say so, the graph network was traced on an image tensor:
    `AttributeError: 'Tensor' object has no attribute 'x'`, blamed on the space, and an empty --out."""
    out = CliRunner().invoke(main, ["export", "link=[0,1,1,1] ops=[gcn,gcn,gcn,gcn]", "--out", str(tmp_path / "g")])
    assert out.exit_code == 2 and "networks of the 'gnn' space take a whole graph" in out.output
    assert "-e gnn-train" in out.output and not (tmp_path / "g").exists()


def test_weights_of_another_input_name_the_first_mismatching_tensor_and_the_input_options(tmp_path):
    """The message kept torch's first line alone ("Error(s) in loading state_dict for Nb201Network:")
    and the hint spoke only of space options, when the cause was the image channels."""
    grey = _space("nb201").build_network(_space("nb201").parse(DRNAS_CELL), InputSpec(channels=1, height=8, width=8,
                                                                                       num_classes=4))
    torch.save(grey.state_dict(), tmp_path / "w.pt")
    result = _export(DRNAS_CELL, tmp_path / "out", "--weights", str(tmp_path / "w.pt"))
    assert result.exit_code == 5, result.output
    assert "the weights have (4, 1, 3, 3), the network (4, 3, 3, 3)" in result.output
    assert "--input CxHxW" in result.output and not (tmp_path / "out").exists()


def test_an_export_never_replaces_another_export_s_files(tmp_path):
    """Exporting a second genotype into a directory replaced the first export's four files."""
    out = tmp_path / "out"
    assert _export(DRNAS_CELL, out).exit_code == 0
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    other = DRNAS_CELL.replace("skip_connect~0", "avg_pool_3x3~0")
    result = _export(other, out)
    text = " ".join(result.output.split())
    assert result.exit_code == 5 and f"--out {out} holds another export ({DRNAS_CELL})" in text, text
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written
    again = _export(DRNAS_CELL, out)  # the same export again refreshes its own files
    assert again.exit_code == 0, again.output


def test_the_same_source_spelt_another_way_is_the_same_export(tmp_path, monkeypatch):
    import json as _json

    from automl_nas.errors import RunError
    from automl_nas.standalone.export import _refuse_another_export

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "r").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "genotype.json").write_text(_json.dumps({"space": "nb201", "text": DRNAS_CELL, "source_run": "runs/r",
                                                    "weights": None}))
    for spelling in ("runs/r", "./runs/r/", str(tmp_path / "runs" / "r")):
        _refuse_another_export(out, "nb201", DRNAS_CELL, spelling, None)  # was refused for the last two
    with pytest.raises(RunError, match="holds another export"):
        _refuse_another_export(out, "nb201", DRNAS_CELL, "runs/other", None)


DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, "
            "5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
            "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def test_build_model_refuses_an_option_that_sizes_only_the_search_supernet():
    """build_model(V2, channels=8, layers=5), the docstring's own example, built the 20-cell C = 36 network."""
    from automl_nas import build_model
    from automl_nas.errors import RecipeError

    genotype = DARTS_V2
    with pytest.raises(RecipeError, match="'channels' shapes only the 'darts' search supernet.*'eval_channels'"):
        build_model(genotype, channels=8, layers=5)
    net = build_model(genotype, eval_channels=8, eval_layers=5, auxiliary=False)
    assert len(net.cells) == 5 and sum(p.numel() for p in net.parameters()) < 100_000


def test_eval_and_export_refuse_a_search_supernet_option_and_retrain_toml_holds_none(tmp_path):
    """`eval G -e retrain --set space.channels=8` trained C = 36; the exported retrain.toml's [space]
    held the search's channels and layers, which read as the network's."""
    import tomllib

    from automl_nas.cli import main

    for args in (["eval", DARTS_V2, "-e", "retrain", "--set", "space.channels=8", "--check"],
                 ["export", DARTS_V2, "--set", "channels=8", "--out", str(tmp_path / "refused")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "'channels' shapes only the 'darts' search supernet" in result.output, result.output
    assert not (tmp_path / "refused").exists()
    done = CliRunner().invoke(main, ["export", DARTS_V2, "--set", "eval_channels=8", "--set", "eval_layers=5",
                                     "--out", str(tmp_path / "x")])
    assert done.exit_code == 0, done.output
    space = tomllib.loads((tmp_path / "x" / "retrain.toml").read_text())["space"]
    assert space["eval_channels"] == 8 and "channels" not in space and "layers" not in space
    again = CliRunner().invoke(main, ["eval", str(tmp_path / "x" / "retrain.toml"), "--check"])
    assert again.exit_code == 0, again.output
    assert "cifar10 is not downloaded yet, so whether the evaluator takes it is checked when" in again.output  # --check downloads nothing
    bad = CliRunner().invoke(main, ["eval", str(tmp_path / "x" / "retrain.toml"), "--check", "--set", "network.bogus=1"])
    assert bad.exit_code == 2 and "has no option 'bogus'" in bad.output, bad.output  # options are checked without data


def test_the_untrained_export_note_names_the_longest_retraining_of_the_genotype(tmp_path):
    """Of two retrainings of the genotype, the note named the first by hash (a 4-epoch trial)
    rather than the run's 6-epoch one."""
    from automl_nas.standalone.export import _longest_trained, _retrainings

    def _trained_in(source: str, genotype: str):  # what export's note names
        return _longest_trained(_retrainings(source, genotype))

    text = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    for key, epochs, genotype in (("0a", 4, text), ("ff", 6, text), ("11", 9, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")):
        job = tmp_path / "retrain" / key
        job.mkdir(parents=True)
        (job / "job.json").write_text(json.dumps({"genotype": genotype, "settings": {"epochs": epochs}}))
        (job / "last.pt").write_bytes(b"x")
    assert _trained_in(str(tmp_path), text) == tmp_path / "retrain" / "ff" / "last.pt"
    assert _trained_in(str(tmp_path), "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|") is None


def test_a_stopped_export_says_its_folder_is_incomplete_and_how_to_complete_it(tmp_path, monkeypatch):
    """Ctrl-C left model.pt without genotype.json and said only "automl: interrupted"."""
    from automl_nas.cli import main
    from automl_nas.standalone import export as export_module

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "export_plan", stopped)
    result = CliRunner().invoke(main, ["export", DARTS_V2, "--out", str(tmp_path / "x")])
    text = " ".join(result.output.split())
    assert result.exit_code == 130 and "may hold some of its files but not all (genotype.json is written last)" in text
    assert "run the same command again: it completes the export" in text


def test_an_export_for_other_inputs_without_data_says_its_retrain_toml_trains_on_cifar10(tmp_path):
    """--input 1x24x40 --classes 5 wrote a retrain.toml that trains on CIFAR-10 without a word."""
    import tomllib

    from automl_nas.cli import main

    cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    done = CliRunner().invoke(main, ["export", cell, "--input", "1x24x40", "--classes", "5", "--out", str(tmp_path / "x"), "-q"])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "x" / "retrain.toml").read_text()
    assert "# NOTE: the exported model takes 1x24x40 images of 5 classes (--input/--classes), but no data set was named" in text
    assert tomllib.loads(text)["data"]["name"] == "cifar10"
    plain = CliRunner().invoke(main, ["export", cell, "--out", str(tmp_path / "y"), "-q"])
    assert plain.exit_code == 0 and "NOTE" not in (tmp_path / "y" / "retrain.toml").read_text()


def test_an_export_of_a_space_without_a_cost_model_records_measured_costs(tmp_path):
    """The macro space has no cost model: genotype.json's costs were null, while a retraining of
    the same network reported its params and FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from automl_nas import load_model
    from automl_nas.cli import main

    done = CliRunner().invoke(main, ["export", "macro:c4,c4,p,c8", "--out", str(tmp_path / "m"), "-q"])
    assert done.exit_code == 0, done.output
    costs = json.loads((tmp_path / "m" / "genotype.json").read_text())["costs"]
    net = load_model(tmp_path / "m")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 32, 32))
    assert costs == {"params": float(sum(p.numel() for p in net.parameters())), "flops": counter.get_total_flops() / 2}


def test_a_refresh_stopped_half_way_leaves_no_record_of_a_whole_export(tmp_path, monkeypatch):
    """Exporting the same genotype again with other options and stopping it left the first export's
    genotype.json beside the new model.pt, a folder that looked whole and did not load."""
    from automl_nas.cli import main
    from automl_nas.standalone import export as export_module

    cell = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    first = CliRunner().invoke(main, ["export", cell, "--out", str(tmp_path / "x"), "-q", "--set", "channels=8",
                                      "--set", "cells_per_stage=1"])
    assert first.exit_code == 0 and (tmp_path / "x" / "genotype.json").exists()

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "_onnx", stopped)
    again = CliRunner().invoke(main, ["export", cell, "--out", str(tmp_path / "x"), "-q", "--set", "channels=16",
                                      "--set", "cells_per_stage=2"])
    assert again.exit_code == 130 and not (tmp_path / "x" / "genotype.json").exists()
    monkeypatch.undo()
    done = CliRunner().invoke(main, ["export", cell, "--out", str(tmp_path / "x"), "-q", "--set", "channels=16",
                                     "--set", "cells_per_stage=2"])
    assert done.exit_code == 0
    from automl_nas import load_model

    assert load_model(tmp_path / "x")(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
