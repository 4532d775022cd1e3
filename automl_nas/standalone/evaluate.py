"""Run an :class:`~automl_nas.standalone.target.EvalPlan`: build the components, evaluate, write JSON.

The result file (default ``<work dir>/eval-<evaluator>.json``) holds the metrics with everything
needed to reproduce them: genotype, space and evaluator options, data set, seed, source.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from automl_nas.api import EvalContext, Genotype, GraphSet, InputSpec
from automl_nas.errors import RecipeError, RunError
from automl_nas.recipe.converter import unstructure
from automl_nas.records.rundir import atomic_write_json
from automl_nas.standalone.target import EvalPlan

__all__ = ["build_genotype", "input_spec", "run_eval"]


def build_genotype(space, text: str, source: str) -> Genotype:
    """The space's canonical genotype of ``text``, or a :class:`RecipeError` saying why it is not one."""
    try:
        return space.parse(text)
    except NotImplementedError:
        return Genotype(space.name, text)
    except ValueError as exc:
        raise RecipeError(f"{source}: genotype: not a valid {space.name!r} genotype: {exc}",
                          hint="pass the genotype text a search printed (result.json: genotype), or the right --space") from None


def input_spec(data) -> InputSpec:
    if isinstance(data, GraphSet):  # a graph: channels are the node features (as in the engine)
        return InputSpec(channels=data.num_features, height=1, width=1, num_classes=int(data.num_classes))
    c, h, w = data.shape
    return InputSpec(channels=int(c), height=int(h), width=int(w), num_classes=int(data.num_classes))


def run_eval(plan: EvalPlan, registry, *, out: str | Path | None = None,
             log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evaluate the plan's genotype; write and return the result record. Progress goes to
    ``log`` (default: stderr); torch's thread count and global generators are as before after it."""
    from automl_nas.process_state import kept_process_state

    with kept_process_state():
        return _run_eval(plan, registry, out=out, log=log or _to_stderr)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _run_eval(plan: EvalPlan, registry, *, out: str | Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from automl_nas.devices import resolve_device, set_threads

    recipe = plan.recipe
    started = time.perf_counter()
    space = plan.space.build(registry)
    genotype = build_genotype(space, recipe.genotype, plan.source)
    data = plan.dataset.build(registry).load() if plan.dataset is not None else None
    evaluator = plan.evaluator.build(registry)
    from automl_nas.evaluation import check_fit, evaluator_source

    check_fit(plan.evaluator.component, evaluator, space, data, where=f"{plan.source}: evaluator")
    if out:
        _refuse_another_file(Path(out))
    from automl_nas.records.rundir import missing_dirs, remove_empty_dirs

    created = missing_dirs(plan.work_dir)
    work_dir = _work_dir(plan.work_dir)
    device = resolve_device(recipe.run.device)
    set_threads(recipe.run.threads)
    torch.manual_seed(recipe.seed)
    ctx = EvalContext(space=space, data=data, device=device, seed=recipe.seed, run_dir=work_dir, log=log)
    try:
        metrics = _evaluate(plan, evaluator, genotype, ctx)
    except BaseException:  # Ctrl-C before the first epoch too
        remove_empty_dirs(created)  # a refused or stopped evaluation leaves no empty directory (nor runs/ above it)
        raise
    result = {
        "status": "finished", "genotype": genotype.text, "space": space.name,
        "space_options": _options(plan.space), "evaluator": plan.evaluator.component.name,
        "evaluator_options": _options(plan.evaluator), "data": _data_record(plan, data), "seed": recipe.seed,
        "device": device, "metrics": metrics, "source": recipe.source or plan.source, "work_dir": str(work_dir),
        "wall_time_s": round(time.perf_counter() - started, 3), "evaluator_source": evaluator_source(evaluator),
    }
    if out and created and remove_empty_dirs(created):  # a lookup with --out elsewhere needed no work directory
        result["work_dir"] = None
    out_path = Path(out) if out else _default_out(work_dir, plan.evaluator.component.name, result)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot write the metrics to {out_path}: {exc.strerror or exc}", hint="pass a writable --out FILE") from None
    atomic_write_json(out_path, result, hint="pass a writable --out FILE, or free disk space there")
    result["out"] = str(out_path)
    _complete_run(plan, result, out_path, log)
    return result


def _complete_run(plan: EvalPlan, result: dict[str, Any], out_path: Path, log: Callable[[str], None]) -> None:
    """A run whose own final evaluation failed (result.json ``eval_error``) is completed by this
    evaluation with the run's evaluator (its options may differ: a fixed table path), as the
    error's retry line promised: metrics, the paper band's verdict, and the record it came from."""
    import attrs

    from automl_nas.engine.run import expected_check
    from automl_nas.recipe import load_recipe
    from automl_nas.records.rundir import RunDir

    source = Path(plan.recipe.source) if plan.recipe.source else None
    if source is None or not (source / "result.json").is_file() or not (source / "recipe.toml").is_file():
        return
    rd = RunDir(source)
    run = rd.read_result()
    if run is None or not run.eval_error or run.genotype != result["genotype"]:
        return
    recipe = load_recipe(rd.recipe_file)
    if recipe.evaluator is None or recipe.evaluator.name != result["evaluator"]:
        return
    metrics = result["metrics"]
    rd.write_result(attrs.evolve(run, metrics=metrics, expected=expected_check(recipe, metrics), eval_error=None,
                                 eval_retry=None, eval_record=str(out_path)))
    log(f"eval: completed {rd.result_file} (its search's own evaluation had failed)")


#: What makes two ``automl eval`` records the same evaluation (not the device or the time it took).
_SAME = ("genotype", "space", "space_options", "evaluator", "evaluator_options", "data", "seed")


def _eval_record(path: Path) -> dict | None:
    """``path``'s content when it is an ``automl eval`` record, else ``None``."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and {"evaluator", "metrics"} <= record.keys() else None


def _refuse_another_file(out: Path) -> None:
    """``--out`` may replace an earlier evaluation's record, nothing else (a run's result.json, a checkpoint)."""
    if out.exists() and _eval_record(out) is None:
        raise RunError(f"--out {out} exists and is not an `automl eval` record; it is left as it is",
                       hint="pass a new file name, or leave --out out for eval-<evaluator>.json in the work directory")


def _default_out(work_dir: Path, evaluator: str, result: dict[str, Any]) -> Path:
    """``eval-<evaluator>.json``, or ``-2``, ``-3``, ... when that file holds another evaluation
    (other options, data, seed or genotype), which is kept; the same evaluation again (a resumed
    retraining) rewrites its own file."""
    from automl_nas.records.strict_json import dumps

    text = dumps(result)
    mine = json.loads(text)  # as a file would hold it (tuples as lists, NaN as null)
    import os

    n = 1
    while True:
        path = work_dir / (f"eval-{evaluator}.json" if n == 1 else f"eval-{evaluator}-{n}.json")
        # lexists: a dangling link is a name taken (exists() said free, the claim failed, for good)
        if not os.path.lexists(path) and _claimed(path, text):
            return path
        if not os.path.lexists(path):  # taken by another evaluation and gone again: look at the name once more
            continue
        earlier = _eval_record(path)  # None: not a record of an evaluation (kept, never written over)
        if earlier is not None and all(earlier.get(k) == mine.get(k) for k in _SAME):
            return path
        n += 1


def _claimed(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` only if it does not exist, whole (hard-linked from a file
    of this process): two evaluations of one run started at once both found the name free and
    wrote one file, and one record was lost."""
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.claim")
    try:
        tmp.write_text(text)
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # the write that follows names the file and the fix
        return True
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _evaluate(plan: EvalPlan, evaluator, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
    from automl_nas.evaluation import score

    return score(plan.evaluator.component, evaluator, genotype, ctx)


def _work_dir(path: Path) -> Path:
    from automl_nas.records.rundir import unusable_path

    unusable_path(path, what="work directory", option="--work-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"work directory {path} cannot be created: {exc.strerror or exc}",
                       hint="pass --work-dir DIR (or set run.dir in the recipe)") from None
    return path


def _options(resolved) -> dict[str, Any]:
    return unstructure(resolved.config) if resolved.config is not None else {}


def _data_record(plan: EvalPlan, data) -> dict[str, Any] | None:
    if plan.dataset is None:
        return None
    record = {"name": plan.dataset.component.name, "options": _options(plan.dataset)}
    if isinstance(data, GraphSet):
        record.update(source=data.source, train=len(data.train_idx), valid=len(data.valid_idx), test=len(data.test_idx))
    elif data is not None:
        record.update(source=data.source, train=len(data.train_y), test=len(data.test_y))
    return record
