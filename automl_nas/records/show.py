"""`automl show`: a run directory as text."""

from __future__ import annotations

from pathlib import Path

from automl_nas.errors import RunError
from automl_nas.records.layout import is_blackbox_search
from automl_nas.records.rundir import RunDir, read_jsonl
from automl_nas.records.trial import read_trial_result
from automl_nas.records.schema import EpochRecord, RunResult


def render(path: Path, all_epochs: bool = False) -> str:
    rd = RunDir(path)
    if not rd.recipe_file.exists() and not rd.metrics_file.exists():
        raise RunError(f"{path} is not a run directory (no recipe.toml or metrics.jsonl)", hint="pass a directory under runs/")
    if is_blackbox_search(path):
        return _render_blackbox(path, blackbox_json(path))
    result = rd.read_result()
    epochs = rd.read_epochs()
    lines = [f"run {path}", f"  status      {result.status if result else _unended(rd)}"]
    if result is not None:
        lines += [f"  {key:<11} {getattr(result, key)}" for key in ("recipe", "sampler", "space", "dataset", "seed")]
    gap = result is not None and result.status == "finished" and result.epochs and len(epochs) < result.epochs
    planned = None if result is not None and result.status == "finished" else _planned_epochs(rd)
    lines.append(f"  epochs      {len(epochs)} recorded" + (f" of the {result.epochs} the run made (the others' records "
                                                          f"in metrics.jsonl are cut or deleted)" if gap else "")
                 + (f" of {planned} planned" if planned else ""))
    genotype = (result.genotype if result else None) or (epochs[-1].genotype if epochs else None)
    lines.append(f"  genotype    {genotype}")
    if result is not None:
        lines += _result_lines(result)
    if epochs:
        lines.append("  collapse diagnostics (per epoch: train loss, valid accuracy, param-free ops, skip fraction, mean "
                     "edge entropy):")
        lines += [_epoch_line(rec) for rec in (epochs if all_epochs else epochs[-5:])]
    plots = rd.path / "plots" / "index.html"
    if plots.is_file() or epochs:  # plot refuses a run without an epoch
        lines.append(f"  plots       {plots if plots.is_file() else f'`automl plot {path}` draws them'}")
    return "\n".join(lines)


def _planned_epochs(rd: RunDir) -> int | None:
    """The epochs the saved recipe plans (``search.epochs``), for a run that has not finished:
    "2 recorded" did not say how far it had got."""
    import tomllib

    try:
        epochs = tomllib.loads(rd.recipe_file.read_text(encoding="utf-8"))["search"]["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs > 0 else None


def _unended(rd: RunDir) -> str:
    status = rd.unended_status()
    if status != "killed":
        return f"{status} (no result.json)"
    parent = rd.path.parent
    grouped = (parent / "batch.json").is_file() or (parent / "study.json").is_file()
    if not grouped and rd.resume == "automl run --resume" and not rd.checkpoint_file.exists():
        # `automl run --resume` refuses a run without a checkpoint (a batch or study restarts it clean)
        return (f"killed (no result.json) before its first checkpoint: nothing to resume; `automl run "
                f"{rd.recipe_file}` starts it again in a new directory")
    if (parent / "batch.json").is_file():  # the batch's resume finishes it and its aggregate
        how = f"`automl run --resume {parent}` continues it with its seed batch"
    elif (parent / "study.json").is_file():  # a run finished outside the study is one Optuna never hears of
        how = "the same `automl study` command continues it within its study"
    elif rd.resume == "automl run --resume":  # a torchrun search resumes with as many processes as it ran
        from automl_nas.records.rundir import recorded_world_size, resume_command

        how = f"`{resume_command(rd.path, recorded_world_size(rd.path))}` continues it"
    else:
        how = f"`{rd.resume} {rd.path}` continues it"
    return f"killed (no result.json; {how}, {_resumes_from(rd)})"


def _resumes_from(rd: RunDir) -> str:
    """Where a resume starts: an epoch recorded after the last checkpoint (killed while writing
    it) is computed again, which "from its last checkpoint" beside "3 recorded" did not say."""
    from automl_nas.records.rundir import read_jsonl, saved_epochs

    held, recorded = saved_epochs(rd.checkpoint_file), len(read_jsonl(rd.metrics_file))
    if held is None:  # a batch's or study's trial: restarted clean
        return "from its start: no checkpoint was written"
    if isinstance(held, int) and held < recorded:
        redone = f"epoch {held + 1}" if held + 1 == recorded else f"epochs {held + 1}-{recorded}"
        return f"from its last checkpoint, after epoch {held} ({redone} recorded since is computed again)"
    return "from its last checkpoint"


def run_json(path: Path, all_epochs: bool = False) -> dict:
    """``automl show RUN_DIR --json``: the result, the (last five or all) epoch records and the plots."""
    rd = RunDir(path)
    if not rd.recipe_file.exists() and not rd.metrics_file.exists():
        raise RunError(f"{path} is not a run directory (no recipe.toml or metrics.jsonl)", hint="pass a directory under runs/")
    if is_blackbox_search(path):
        return blackbox_json(path)
    result = rd.read_result()
    epochs = rd.read_epochs()
    plots = rd.path / "plots" / "index.html"
    return {"kind": "run", "path": str(path), "result": result.to_json() if result else None,
            "epochs_recorded": len(epochs),
            "epochs_planned": result.epochs if result is not None and result.status == "finished" else _planned_epochs(rd),
            "epochs": [e.to_json() for e in (epochs if all_epochs else epochs[-5:])],
            "links": [str(plots)] if plots.is_file() else []}


#: result.json keys of a black-box search that grow with every query (the history has them all).
_PER_QUERY = ("curve", "report_curve")


def blackbox_json(path: Path) -> dict:
    """``automl show --json`` of an ``automl search`` directory: its result.json without the
    per-query curves, and the queries recorded so far (a search still running or stopped has
    no result.json yet)."""
    result = read_trial_result(path)
    history = read_jsonl(path / "history.jsonl")
    out = {"kind": "blackbox", "path": str(path),
           "result": {k: v for k, v in result.items() if k not in _PER_QUERY} if result else None,
           "queries_recorded": len(history)}
    if result is None:  # what a stopped search holds so far, and whether its process is gone
        out["status"] = RunDir(path).unended_status()
        best = _best_so_far(history)
        if best is not None:
            out["best_so_far"] = best
    return out


def _best_so_far(history: list[dict]) -> dict | None:
    """The query that holds the running best (each line carries it as ``best``), as a finished
    search's best_value and best_genotype would name it."""
    if not history or history[-1].get("best") is None:
        return None
    best = history[-1]["best"]
    query = next((q for q in history if q.get("value") == best), None)
    return {"value": best, "genotype": query.get("genotype") if query else None,
            "query": query.get("query") if query else None}


def _render_blackbox(path: Path, summary: dict) -> str:
    result = summary["result"]
    lines = [f"black-box search {path}",
             f"  status        {result.get('status') if result else summary['status'] + ' (no result.json)'}",
             f"  queries       {summary['queries_recorded']} recorded"]
    best = summary.get("best_so_far")
    if best is not None:
        lines.append(f"  best so far   {best['value']} {best['genotype']} (query {best['query']})")
    if result:
        lines += [f"  {key:<13} {result[key]}" for key in ("recipe", "proposer", "space", "seed", "device", "metric",
                                                          "best_value", "best_genotype", "report_metric",
                                                          "best_report", "simulated_seconds", "seconds")
                  if result.get(key) is not None]
        if result.get("exhausted"):
            lines.append(f"  ended early   {result.get('exhausted_reason')}")
        origin = next((e for e in read_jsonl(path / "history.jsonl")
                       if e.get("genotype") == result.get("best_genotype") and e.get("parent")), None)
        if origin is not None:  # a network morphism's: the parent it was grown from
            lines.append(f"  best's parent {origin['parent']} (by {', '.join(origin.get('morphisms') or ())})")
    else:
        lines.append(f"  continue      `automl search --resume {path}`")
    lines.append(f"  history       {path / 'history.jsonl'} (one line per query)")
    return "\n".join(lines)


def _result_lines(result: RunResult) -> list[str]:
    lines = []
    if result.search_time_s is not None:
        lines.append(f"  search time {result.search_time_s:.1f} s")
    lines += [f"  {k:<11} {v:.4g}" for k, v in (result.metrics or {}).items()]
    if result.costs:  # the space's count of the found network, beside an evaluator's metric of the same name
        lines.append("  costs       " + ", ".join(f"{k} {v:,.0f}" for k, v in result.costs.items()))
    exp = result.expected
    if exp:
        verdict = ("INSIDE" if exp.inside else "OUTSIDE") if exp.inside is not None else \
            f"n/a (not the paper's protocol: {', '.join(exp.changed)} changed)" if exp.changed else "n/a (metric not reported)"
        ours = "n/a" if exp.ours is None else f"{exp.ours:.2f}"
        lines.append(f"  expected    {exp.metric}: paper {exp.paper} (band {exp.low}-{exp.high}, {exp.source}); ours {ours} -> {verdict}")
    if result.error:
        lines.append(f"  error       {result.error}")
    if result.eval_error:  # the search finished but its evaluation did not (issue 13)
        lines.append(f"  evaluation  failed: {result.eval_error}\n  re-score    {result.eval_retry or 'automl eval RUN_DIR'}")
    if result.eval_record:
        lines.append(f"  evaluation  by `automl eval` after the search ({result.eval_record})")
    if result.scored_in:
        lines.append(f"  evaluation  on rank 0: `automl show {result.scored_in}` has the metrics")
    return lines


def _epoch_line(rec: EpochRecord) -> str:
    ent = "  ".join(f"{group}={value:.3f}" for group, value in rec.entropy.items())
    extra = f" hessian {rec.hessian_eigenvalue:.3g}" if rec.hessian_eigenvalue is not None else ""
    free = "n/a" if rec.param_free_ops is None else rec.param_free_ops
    skip = "n/a" if rec.skip_fraction is None else f"{rec.skip_fraction:.2f}"
    # the training loss beside the accuracy: a search that diverged (a loss that grows) is seen here
    return (f"    epoch {rec.epoch + 1:>3}: loss {rec.train_loss:.4f}  valid {rec.valid_acc:5.1f}%  param-free {free}  "
            f"skip {skip}  entropy {ent}{extra}")


def member_epoch_lines(rows) -> list[str]:
    """``automl show BATCH_OR_STUDY --epochs``: every trial's epoch records (a trial with none is
    left out)."""
    lines: list[str] = []
    for row in rows:
        epochs = RunDir(Path(row.run_dir)).read_epochs() if Path(row.run_dir).is_dir() else []
        if epochs:
            lines.append(f"  epochs of {row.name}:")
            lines += [_epoch_line(rec) for rec in epochs]
    return lines


def member_epochs_json(rows) -> dict[str, list[dict]]:
    """The same for ``--json``: ``{trial name: [epoch record, ...]}``."""
    return {row.name: [rec.to_json() for rec in RunDir(Path(row.run_dir)).read_epochs()]
            for row in rows if Path(row.run_dir).is_dir()}
