"""Export one genotype: ``genotype.json``, TorchScript ``model.pt``, ONNX ``model.onnx``, ``retrain.toml``.

The network is ``space.build_network`` in eval mode, with fresh seeded weights or the weights of
a retraining checkpoint (``--weights .../retrain/<key>/last.pt``, whose ``job.json`` also gives
the space options it was trained with). TorchScript is traced (``torch.jit.trace``: the
networks' Python control flow depends only on the genotype). ONNX uses torch's default
``torch.export``-based exporter (``dynamo=True``, needs ``onnxscript``) with a dynamic batch
axis; ``onnx_exporter="legacy"`` selects the deprecated TorchScript-based one. Both files are
checked against the eager network on a batch of two images; the differences are recorded.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs

from automl_nas.api import GraphSet, InputSpec
from automl_nas.api.space import supernet_only_options
from automl_nas.costs import network_costs
from automl_nas.errors import DataError, RecipeError, RunError
from automl_nas.recipe.converter import unstructure
from automl_nas.records.rundir import atomic_write_bytes, atomic_write_json, unusable_path
from automl_nas.standalone.evaluate import build_genotype, input_spec
from automl_nas.standalone.retrain_toml import retrain_recipe_text
from automl_nas.standalone.target import EvalPlan

__all__ = ["ONNX_EXPORTERS", "export_plan", "parse_input_shape"]

ONNX_EXPORTERS = ("dynamo", "legacy")
# Each file is built in memory and then written whole: torch's own writers, given a path, abort
# the process when the disk fills (an exception in PyTorchStreamWriter's destructor).
_WRITE_HINT = "free disk space there or pass another --out DIR, then export again"


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` -> ``(3, 32, 32)``."""
    try:
        c, h, w = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise RecipeError(f"--input {text!r}: expected CxHxW, e.g. 3x32x32") from None
    if min(c, h, w) < 1:
        raise RecipeError(f"--input {text!r}: every size must be positive")
    return c, h, w


def export_plan(plan: EvalPlan, registry, out_dir: str | Path, *, input_shape: tuple[int, int, int] | None = None,
                num_classes: int | None = None, weights: str | Path | None = None, onnx_exporter: str = "dynamo",
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the four files into ``out_dir``; return the ``genotype.json`` record."""
    import torch

    _refuse_a_run_directory(Path(out_dir))
    state, job = _read_weights(Path(weights)) if weights else (None, None)
    space_resolved = _space_of_job(plan, registry, job) if job else plan.space
    space = space_resolved.build(registry)
    genotype = build_genotype(space, plan.recipe.genotype, plan.source)
    unusable_path(Path(out_dir), what="export directory", option="--out")
    _refuse_another_export(Path(out_dir), space.name, genotype.text, plan.recipe.source or None, weights)
    if job and job.get("genotype") not in (None, genotype.text):
        raise RunError(f"{weights}: the checkpoint was trained for genotype {job['genotype']!r}, not {genotype.text!r}",
                       hint="export the checkpoint's own genotype (see job.json next to it)")
    inputs, preprocess = _inputs(plan, registry, input_shape, num_classes)
    if not isinstance(space.example_input(inputs, 1), torch.Tensor):  # a genotype string carries no data set
        raise RecipeError(f"export writes image networks (input 1xCxHxW), and networks of the {space.name!r} space "
                          f"take a whole graph: they are not exportable yet",
                          hint="score the genotype with `automl eval TARGET -e gnn-train --data sbm` instead")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(plan.recipe.seed)
        net = space.build_network(genotype, inputs)
        example = torch.randn(1, inputs.channels, inputs.height, inputs.width)
        batch = torch.randn(2, inputs.channels, inputs.height, inputs.width)
    if state is not None:
        _load_state(net, state, weights)
    net.eval()
    out = _out_dir(out_dir)  # only now: an export refused above leaves no directory behind
    # A refresh (the same genotype again, other options) first takes away the record that says the
    # folder is whole: stopped half-way, it left the old genotype.json beside a new model.pt.
    try:
        (out / "genotype.json").unlink(missing_ok=True)
    except OSError as exc:
        raise RunError(f"cannot replace {out / 'genotype.json'}: {exc.strerror or exc}", hint=_WRITE_HINT) from None
    costs = network_costs(space, genotype, inputs, net)  # measured for a space without a cost model
    in_module = sum(p.numel() for p in net.parameters())
    # The module holds every parameter (an auxiliary head's too); the space's count, in genotype.json,
    # is the network that scores images, as the papers count it (DARTS: aux head excluded).
    counted = (f"; the space counts {costs['params']:,.0f} (genotype.json's costs: without training-only parts "
               f"such as an auxiliary head)" if costs and costs.get("params") not in (None, in_module) else "")
    log(f"export: {genotype.text} ({space.name}, {in_module:,} parameters in the module{counted}) -> {out}")
    jobs = [] if state is not None else _retrainings(plan.recipe.source, genotype.text)
    trained = _longest_trained(jobs)
    if trained is not None:  # a morphism search (or eval) trained it: an untrained export is rarely what is meant
        log(f"export: note: the network has fresh, untrained weights; {trained} holds this genotype as the run "
            f"trained it: add --weights {trained} to export those")
    elif any((job / "result.json").is_file() and not (job / "last.pt").exists() for job, _ in jobs):
        log("export: note: the network has fresh, untrained weights; the run trained this genotype but did not keep "
            "its weights (keep_weights = false): retrain it with retrain.toml, then export with --weights")
    atomic_write_bytes(out / "model.pt", _torchscript(net, example, out / "model.pt"), hint=_WRITE_HINT)
    atomic_write_bytes(out / "model.onnx", _onnx(net, example, out / "model.onnx", onnx_exporter), hint=_WRITE_HINT)
    record = {
        "space": space.name, "text": genotype.text, "space_options": _options(space_resolved),
        "source_run": plan.recipe.source or None, "inputs": attrs.asdict(inputs), "preprocess": preprocess,
        "seed": plan.recipe.seed,
        "weights": str(weights) if weights else None, "costs": costs,
        "files": {"torchscript": "model.pt", "onnx": "model.onnx", "retrain_recipe": "retrain.toml"},
        "onnx": {"exporter": onnx_exporter, "input": "input", "output": "logits", "dynamic_axes": {"input": [0], "logits": [0]}},
        "checks": _check_files(net, batch, out),
        "versions": {"torch": torch.__version__},
    }
    for name, diff in record["checks"].items():
        if diff is not None and diff > 1e-4:
            log(f"export: warning: {name} = {diff:.3g}: the exported file differs from the eager network")
    # the options the network reads: a search supernet's sizes in [space] would read as the network's
    supernet = supernet_only_options(space_resolved.component.config, record["space_options"])
    guessed = plan.dataset is None and (input_shape is not None or num_classes is not None)
    notes = [f"the exported model takes {inputs.channels}x{inputs.height}x{inputs.width} images of "
             f"{inputs.num_classes} classes (--input/--classes), but no data set was named: [data] below is CIFAR-10's; "
             f"change it to your data (e.g. name = \"npz\", path = \"my.npz\", test_fraction = 0.2 in that table)"] \
        if guessed else []
    lineage = _warm_started_epochs(plan, genotype.text)
    if lineage is not None:  # its score is that of a chain of warm starts: from scratch, `epochs` trains far less
        trainings, epochs = lineage
        notes.append(f"the search scored this genotype after {trainings} warm-started trainings of {epochs} epoch(s) "
                     f"along its lineage ({trainings * epochs} epochs in all); retrained from scratch for {epochs} it "
                     f"scores lower: set epochs = {trainings * epochs} (or the space's protocol) to compare")
        log(f"export: note: {notes[-1]}")
    toml = retrain_recipe_text(plan, space_options={k: v for k, v in record["space_options"].items() if k not in supernet},
                               data=_data_table(plan), note="\n# NOTE: ".join(notes))
    atomic_write_bytes(out / "retrain.toml", toml.encode(), hint=_WRITE_HINT)
    atomic_write_json(out / "genotype.json", record, hint=_WRITE_HINT)  # last: its presence says the export is whole
    return record


def _warm_started_epochs(plan: EvalPlan, text: str) -> tuple[int, int] | None:
    """``(trainings, epochs)`` when ``text`` was scored by a morphism search's warm-started
    retraining (each child trains ``epochs`` more on its parent's weights): the trainings along
    its lineage in the search's ``history.jsonl``; ``None`` otherwise."""
    from automl_nas.records.rundir import read_jsonl

    options = plan.recipe.evaluator.options if plan.recipe.evaluator is not None else {}
    source = plan.recipe.source
    if not source or not options.get("warm_start") or not isinstance(options.get("epochs"), int):
        return None
    parents = {}
    for query in read_jsonl(Path(source) / "history.jsonl"):
        parents.setdefault(query.get("genotype"), query.get("parent"))
    trainings, seen, node = 0, set(), text
    while node in parents and node not in seen:
        seen.add(node)
        trainings += 1
        node = parents[node]
    return (trainings, options["epochs"]) if trainings > 1 else None


def _retrainings(source: str | None, text: str) -> list[tuple[Path, dict]]:
    """The retraining job folders of genotype ``text`` in the run directory ``source``
    (``retrain/<key>/`` whose ``job.json`` names it), each with that record."""
    if not source or not (Path(source) / "retrain").is_dir():
        return []
    jobs = []
    for job in (Path(source) / "retrain").glob("*/job.json"):
        try:
            record = json.loads(job.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # another record's damage is not this export's concern
        if isinstance(record, dict) and record.get("genotype") == text:
            jobs.append((job.parent, record))
    return jobs


def _longest_trained(jobs: list[tuple[Path, dict]]) -> Path | None:
    """The retraining checkpoint (``last.pt``) of the jobs of :func:`_retrainings`, else ``None``:
    of several, the longest training (its settings' epochs), then the newest (the first by hash was
    named, a 4-epoch trial over the 6-epoch one the run kept). A job trained with ``keep_weights =
    false`` has a ``result.json`` and no ``last.pt``."""
    found = []
    for job, record in jobs:
        try:
            epochs = (record.get("settings") or {}).get("epochs") or 0
            if (job / "last.pt").is_file():
                found.append((float(epochs), (job / "last.pt").stat().st_mtime, job / "last.pt"))
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    return max(found)[2] if found else None


def _refuse_a_run_directory(out: Path) -> None:
    """The export's four files would replace nothing of a run's, but they would mix into its records."""
    from automl_nas.records.layout import is_run_directory

    if is_run_directory(out):
        raise RunError(f"--out {out} is a run directory (it holds a run's records); an export goes into its own "
                       f"directory", hint=f"pass a new directory, e.g. --out {out / 'export'}")


def _refuse_another_export(out: Path, space: str, text: str, source: str | None, weights: Any) -> None:
    """An export directory holds one export: another genotype's (or another source's, or other
    weights') files would be replaced without a word. Exporting the same again refreshes it."""
    try:
        earlier = json.loads((out / "genotype.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        earlier = {}
    def where(path: Any) -> str | None:  # runs/x, ./runs/x/ and /abs/runs/x are one source
        return str(Path(path).resolve()) if path else None

    same = (earlier.get("space"), earlier.get("text"), where(earlier.get("source_run")), where(earlier.get("weights"))) == \
        (space, text, where(source), where(weights))
    if not same:
        what = f"{earlier.get('text', '?')}" + (f" from {earlier['source_run']}" if earlier.get("source_run") else "")
        raise RunError(f"--out {out} holds another export ({what}); an export never replaces another's files",
                       hint=f"pass a new directory, or remove {out} first if that export is no longer wanted")


def _out_dir(path: str | Path) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"export directory {out} cannot be created: {exc.strerror or exc}", hint="pass a writable --out DIR") from None
    return out


def _read_weights(path: Path) -> tuple[dict, dict | None]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code from a weights file
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise RunError(f"--weights {path}: cannot be read ({type(exc).__name__}: {exc})",
                       hint="pass a retraining checkpoint (run dir: retrain/<key>/last.pt) or a saved state_dict") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a retrain checkpoint
    job_file = path.parent / "job.json"
    job = json.loads(job_file.read_text()) if job_file.exists() else None
    return state, job


def _space_of_job(plan: EvalPlan, registry, job: dict):
    """The space options the checkpoint's network was trained with (its ``job.json``)."""
    from automl_nas.recipe.model import ComponentRef
    from automl_nas.recipe.resolve import resolve_ref

    options = {k: v for k, v in job["space"].items() if k != "name"}
    component = plan.space.component
    if job["space"].get("name", component.name) != component.name:
        raise RunError(f"the checkpoint was trained in space {job['space']['name']!r}, not {component.name!r}",
                       hint="pass --space with the checkpoint's space")
    return resolve_ref(registry, "search_space", ComponentRef(name=component.name, options=options), key="space",
                       source="job.json")


def _load_state(net, state: dict, weights) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise RunError(f"--weights {weights}: the weights do not fit the network of this genotype, space options "
                       f"and input ({_first_mismatch(net.state_dict(), state)})",
                       hint="export with what the weights were trained with: the space options (--set space.KEY=VALUE), "
                            "the image shape (--input CxHxW: a first conv of another channel count) and the class "
                            "count (--classes N: a classifier of another width)") from None


def _first_mismatch(ours: dict, theirs: dict) -> str:
    """The first tensor that differs, with both shapes (torch's message lists them all, after a
    first line that names none)."""
    for key, tensor in ours.items():
        if key in theirs and tuple(theirs[key].shape) != tuple(tensor.shape):
            return f"{key}: the weights have {tuple(theirs[key].shape)}, the network {tuple(tensor.shape)}"
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    if missing:
        return f"{len(missing)} tensor(s) of the network are absent from the weights, e.g. {missing[0]}"
    return f"{len(extra)} tensor(s) of the weights are not in the network, e.g. {extra[0]}" if extra else "unknown"


def _inputs(plan: EvalPlan, registry, shape, num_classes) -> tuple[InputSpec, dict[str, Any] | None]:
    """The network's input, and how images become it (``None`` where no data set says)."""
    if shape is not None:
        c, h, w = shape
        return InputSpec(channels=c, height=h, width=w, num_classes=num_classes or 10), None
    if plan.dataset is None:  # the papers' data: CIFAR-10
        return InputSpec(num_classes=num_classes or 10), None
    try:
        data = plan.dataset.build(registry).load()
    except DataError as exc:
        raise DataError(f"{exc.message} (export reads the data set only for its image shape and classes)",
                        hint="make the data available, or pass --input CxHxW --classes N") from None
    if isinstance(data, GraphSet):
        raise RecipeError(f"export writes image networks (input 1xCxHxW), but the data set {data.name!r} is a graph: "
                          f"networks of the {plan.space.component.name!r} space take a whole graph and are not exportable yet",
                          hint="score the genotype with `automl eval TARGET -e gnn-train` (retrains it on the graph) instead")
    spec = input_spec(data)
    # The network was trained on normalised images: without these a user scores it on raw pixels.
    preprocess = {"scale": "x / 255 (uint8 pixels to [0, 1])", "mean": list(data.mean), "std": list(data.std),
                  "then": "(x - mean) / std per channel, NCHW"}
    return (attrs.evolve(spec, num_classes=num_classes) if num_classes else spec), preprocess


def _torchscript(net, example, path: Path) -> bytes:
    """The traced network as the bytes of a TorchScript file (``path`` names it in errors)."""
    import torch

    try:
        with _torchscript_chosen():
            traced = torch.jit.trace(net, example)
            buf = io.BytesIO()
            torch.jit.save(traced, buf)
            return buf.getvalue()
    except Exception as exc:  # noqa: BLE001 - a network tracing cannot follow is reported, not dumped
        raise RunError(f"TorchScript export to {path} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                       hint="the space's network must be traceable in eval mode; report it to the space plugin") from None


@contextlib.contextmanager
def _torchscript_chosen() -> Iterator[None]:
    """torch warns that TorchScript is deprecated; it is still the format asked for, so the notice is no news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
        yield


def _onnx(net, example, path: Path, exporter: str) -> bytes:
    """The network as the bytes of an ONNX file (``path`` names it in errors)."""
    import torch

    if exporter not in ONNX_EXPORTERS:
        raise RecipeError(f"--onnx-exporter {exporter!r}: expected one of {', '.join(ONNX_EXPORTERS)}")
    try:
        if exporter == "dynamo":
            # No file given: the program's model, serialised here, is the bytes export(path) writes.
            program = torch.onnx.export(net, (example,), None, input_names=["input"], output_names=["logits"],
                                        dynamo=True, external_data=False, verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
            return program.model_proto.SerializeToString()
        buf = io.BytesIO()
        with warnings.catch_warnings():  # chosen explicitly: its deprecation notice is no news
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(net, (example,), buf, input_names=["input"], output_names=["logits"], dynamo=False,
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        return buf.getvalue()
    except ModuleNotFoundError as exc:
        raise RunError(f"ONNX export needs the package {exc.name!r}, which is not installed",
                       hint="pip install onnx onnxscript (they are dependencies of automl-nas), or --onnx-exporter legacy") from None
    except Exception as exc:  # noqa: BLE001
        raise RunError(f"ONNX export ({exporter}) to {path} failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                       hint="try --onnx-exporter legacy" if exporter == "dynamo" else "try --onnx-exporter dynamo") from None


def _check_files(net, batch, out: Path) -> dict[str, Any]:
    """Max |difference| of each file's output from the eager network on a batch of 2 (batch axis is dynamic)."""
    import torch

    with torch.no_grad():
        ref = net(batch)
        with _torchscript_chosen():
            traced = torch.jit.load(str(out / "model.pt"))
        checks: dict[str, Any] = {"torchscript_max_abs_diff": float((traced(batch) - ref).abs().max())}
    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        checks["onnx_max_abs_diff"] = None  # onnxruntime not installed: not verified
        return checks
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": batch.numpy()})
    checks["onnx_max_abs_diff"] = float((torch.from_numpy(got) - ref).abs().max())
    return checks


def _options(resolved) -> dict[str, Any]:
    return unstructure(resolved.config) if resolved.config is not None else {}


def _data_table(plan: EvalPlan) -> dict[str, Any]:
    if plan.dataset is None:  # the papers retrain on CIFAR-10
        return {"name": "cifar10", "download": True}
    return {"name": plan.dataset.component.name, **plan.recipe.data.options}
