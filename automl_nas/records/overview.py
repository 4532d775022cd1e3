"""A seed batch or a study at a glance: one row per trial, mean ± std, the best trial and the
files to open (issue 19). Built only from the typed run records plus, for a study, the
``trials.csv`` and ``best.json`` that :mod:`automl_nas.study.report` writes."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from automl_nas.errors import RunError
from automl_nas.records.layout import member_runs, study_best, target_kind, trial_dir_here
from automl_nas.records.rundir import RunDir

__all__ = ["Overview", "TrialRow", "overview"]


@attrs.frozen(kw_only=True)
class TrialRow:
    """One trial: its run directory's result and last epoch, and (study) its parameters and value."""

    name: str
    run_dir: str
    status: str
    epochs: int
    valid_acc: float | None = None  # the last epoch's, %
    metrics: dict[str, float] = attrs.field(factory=dict)
    costs: dict[str, float] = attrs.field(factory=dict)  # the genotype's (params, flops, ...), as result.json has them
    genotype: str | None = None
    params: dict[str, Any] = attrs.field(factory=dict)
    values: list[float] | None = None  # the study's objective values
    state: str | None = None  # the study's trial state (COMPLETE, PRUNED, FAIL)
    problem: str | None = None  # why its records could not be read, with the fix
    error: str | None = None  # why the trial failed (its result.json's error)
    paper_metric: str | None = None  # the recipe's [expected] metric, which ranks a batch's seeds
    primary: tuple[str, bool] | None = None  # else the evaluator's first metric and whether higher is better


@attrs.frozen(kw_only=True)
class Overview:
    kind: str  # batch | study
    path: str
    rows: list[TrialRow]
    stats: dict[str, dict[str, float]]  # metric -> {mean, std, n} over finished trials
    best: list[str]  # trial names
    links: list[str]  # plots and reports to open
    best_by: str = ""  # what ranked a batch's seeds (a study's best is its storage's)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def render(self) -> str:
        noun = "seed batch" if self.kind == "batch" else "study"
        ends = Counter(r.state or r.status for r in self.rows)  # a study's trials by Optuna state
        counts = ", ".join(f"{n} {end}" for end, n in sorted(ends.items(), key=lambda kv: (-kv[1], kv[0])))
        lines = [f"{noun} {self.path}", f"  trials      {len(self.rows)} ({counts})",
                 f"  best        {', '.join(self.best) or 'n/a'}{f' (by {self.best_by})' if self.best and self.best_by else ''}"]
        width = max([11, *(len(k) for k in self.stats)])
        lines += [f"  {key:<{width}} {_stat(s['mean'])} ± {_stat(s['std'])} (n={s['n']:.0f})" for key, s in self.stats.items()]
        lines.append("  " + _table(self.rows))
        lines += [f"  see         {link}" for link in self.links]
        lines += [f"  note        {r.name}: {r.problem}" for r in self.rows if r.problem]
        # a member's own fix (`automl run --resume TRIAL`, "a new --run-dir") would run it outside its
        # batch or study: its error alone, and the group's way on once
        failed = [r for r in self.rows if r.error and r.status == "failed"]
        lines += [f"  failed      {r.name}: {r.error.split(chr(10))[0].strip()}" for r in failed]
        if failed and self.kind == "batch":
            lines.append(f"  continue    `automl run --resume {self.path}` runs the unfinished trials again")
        elif failed:
            queued = [r.name for r in failed if r.state == "queued"]
            said = [f"continues {', '.join(queued)} from its checkpoint with its parameters (queued again)"] if queued \
                else []
            said += ["runs new trials (a failed trial stays failed; `[executor] retries` retries one before it fails)"] \
                if len(queued) < len(failed) else []
            lines.append("  continue    the same `automl study` command " + "; it ".join(said))
        return "\n".join(lines)


def _stat(value: float) -> str:
    """A mean or std: counts (params, FLOPs) in full with separators ("3.08e+04" hid 30,802), the
    rest to four significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(rows: list[TrialRow]) -> str:
    metrics = sorted({k for r in rows for k in r.metrics})
    params = sorted({k for r in rows for k in r.params})
    value = ["value"] if any(r.values for r in rows) else []
    head = ["trial", "status", "epochs", "valid", *value, *metrics, *params, "genotype"]
    body = [[r.name, r.state or r.status, str(r.epochs), _fmt(r.valid_acc),
             *([", ".join(f"{v:.4g}" for v in r.values or []) or "-"] if value else []),
             *[_fmt(r.metrics.get(k)) for k in metrics],
             *[_fmt(r.params.get(k)) for k in params], r.genotype or "-"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return "\n  ".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body])


def _row(name: str, rd: RunDir, study: dict[str, dict]) -> TrialRow:
    problem = None
    try:
        result = rd.read_result()
    except RunError as exc:  # one damaged trial: the others are still worth seeing
        result, problem = None, f"{exc.message}; fix: {exc.hint}" if exc.hint else exc.message
    epochs = rd.read_epochs()
    extra = study.get(str(rd.path.resolve()), {})
    status = result.status if result else "unreadable" if problem else _unended(rd)
    state = extra.get("state")
    if state == "RUNNING" and status in ("killed", "interrupted"):  # the storage's word, from a driver now gone
        state = status
    elif state == "FAIL" and status == "interrupted":  # failed only to be queued again: the next run continues it
        state = status
    elif state == "FAIL" and extra.get("queued"):  # stopped by its disk, queued again with its parameters
        state = "queued"
    return TrialRow(name=name, run_dir=str(rd.path), status=status, problem=problem,
                    epochs=len(epochs), valid_acc=epochs[-1].valid_acc if epochs else None,
                    metrics=dict((result.metrics or {}) if result else {}),
                    costs=dict((result.costs or {}) if result else {}),
                    genotype=(result.genotype if result else None) or (epochs[-1].genotype if epochs else None),
                    params=extra.get("params", {}), values=extra.get("values"), state=state,
                    error=result.error if result else None,
                    paper_metric=result.expected.metric if result and result.expected else None,
                    primary=(result.primary_metric, result.primary_higher_is_better is not False)
                    if result and result.primary_metric else None)


def _unended(rd: RunDir) -> str:
    """A trial without result.json: its lock says whether it runs here; a batch's attempt log
    says when its driver stopped it (a Ray worker writes no end of its own then)."""
    from automl_nas.records.rundir import read_jsonl
    from automl_nas.records.trial import attempt_log_of

    # The driver closed its last attempt as interrupted: no driver runs the trial now. A process
    # still holding the lock is its Ray worker, which Ray stops a moment after the driver (a
    # resume writes a new, running attempt before a worker takes the lock again).
    attempts = read_jsonl(attempt_log_of(rd.path))
    if attempts and attempts[-1].get("status") == "interrupted":
        return "interrupted"
    return rd.unended_status()


def _not_started(path: Path, rows: list[TrialRow]) -> list[TrialRow]:
    """The trials ``batch.json`` plans that have no records yet (the batch is running, or its
    driver stopped before them: ``automl run --resume BATCH`` runs them)."""
    from automl_nas.execution.batch import is_seed_batch, read_batch

    if not is_seed_batch(path):
        return []
    try:
        specs = read_batch(path).specs
    except RunError:
        return []
    seen = {r.name for r in rows}
    names = [Path(s.run_dir).name for s in specs]
    return [TrialRow(name=n, run_dir=str(path / n), status="not started", epochs=0) for n in names if n not in seen]


def _stats(rows: list[TrialRow]) -> dict[str, dict[str, float]]:
    """Mean ± population std (ddof=0, like aggregate.json) of every metric over finished trials."""
    columns: dict[str, list[float]] = {}
    for r in rows:
        if r.status != "finished":
            continue
        for key, value in {"valid_acc": r.valid_acc, **{f"metrics.{k}": v for k, v in r.metrics.items()},
                           **{f"costs.{k}": v for k, v in r.costs.items()}}.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                columns.setdefault(key, []).append(float(value))
    out = {}
    for key, vals in columns.items():
        mean = sum(vals) / len(vals)
        out[key] = {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals)), "n": len(vals)}
    return out


def _study_table(path: Path) -> dict[str, dict]:
    """``trials.csv`` by run directory: Optuna state, objective values and parameters."""
    file = path / "trials.csv"
    if not file.is_file():
        return {}
    from automl_nas.study.storage import CONTINUES_ATTR, queued_again

    with open(file, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    again = queued_again((r.get("state", ""), {CONTINUES_ATTR: r.get(f"user_attrs_{CONTINUES_ATTR}")}) for r in rows)
    out = {}
    for row in rows:
        run_dir = row.get("user_attrs_run_dir")
        if not run_dir:
            continue
        # Optuna stores a pruned trial's last intermediate value as its value: not an objective value.
        values = [float(v) for k, v in row.items() if (k == "value" or k.startswith("values_")) and v not in ("", None)
                  and row.get("state") == "COMPLETE"]
        out[trial_dir_here(path, run_dir)] = {
            "state": row.get("state"), "values": values or None, "queued": Path(run_dir).name in again,
            "params": {k[len("params_"):]: _number(v) for k, v in row.items() if k.startswith("params_") and v != ""}}
    return out


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _best(kind: str, path: Path, rows: list[TrialRow], stored_best: list[str] | None = None) -> tuple[list[str], str]:
    """The best trials' names, and what ranked a batch's seeds (a study's best is its storage's: "")."""
    if kind == "study":
        chosen = stored_best if stored_best is not None else study_best(path)
        best = {trial_dir_here(path, b) for b in chosen}
        names = {str(Path(r.run_dir).resolve()): r.name for r in rows}
        # another driver's trial of a shared storage lies in its own study root: named by its path
        return [names.get(b, b) for b in sorted(best, key=lambda b: (b not in names, b))], ""
    done = [r for r in rows if r.status == "finished" and r.valid_acc is not None]
    if not done:
        return [], ""
    by, score = _seed_score(done)
    return [max(done, key=score).name], by


def _seed_score(done: list[TrialRow]) -> tuple[str, Any]:
    """``(what, score)`` ranking a batch's finished seeds: the recipe's paper metric (``[expected]``,
    an accuracy), else the evaluator's first declared metric in its direction, where every seed
    reports it; else the last epoch's validation accuracy. (The first metric by name ranked them:
    `in_table`, 1 for every seed, or `ImageNet16-120` for a CIFAR-10 recipe; a cost was maximised.)"""
    def reported(metric: str) -> bool:
        return all(isinstance(r.metrics.get(metric), (int, float)) and not math.isnan(r.metrics[metric]) for r in done)

    paper = done[0].paper_metric
    if paper and all(r.paper_metric == paper for r in done) and reported(paper):
        return paper, lambda r: r.metrics[paper]
    primary = done[0].primary
    if primary and all(r.primary == primary for r in done) and reported(primary[0]):
        sign = 1.0 if primary[1] else -1.0
        return primary[0] + ("" if primary[1] else ", lowest"), lambda r: sign * r.metrics[primary[0]]
    return "last epoch's valid accuracy", lambda r: r.valid_acc


def overview(path: str | Path) -> Overview:
    """The :class:`Overview` of a seed batch or a study directory."""
    path = Path(path)
    kind = target_kind(path)
    if kind == "run":
        raise ValueError(f"{path} is a single run")
    stored = _stored(path) if kind == "study" else None
    here = path.resolve()
    if stored and not any(Path(run).is_relative_to(here) for run in stored[0]):
        stored = None  # a copy of the directory: its study.json still names the original's storage
    study = stored[0] if stored else _study_table(path) if kind == "study" else {}
    rows = [_row(name, rd, study) for name, rd in member_runs(path)]
    rows += _not_started(path, rows) if kind == "batch" else []
    links = [str(p) for p in [path / "plots" / "index.html", *sorted(path.glob("*.html")), path / "aggregate.json",
                              path / "trials.csv", path / "best.json"] if p.is_file()]
    if not (path / "plots" / "index.html").is_file() and any(r.epochs for r in rows):  # plot needs an epoch
        links.append(f"`automl plot {path}` draws the figures")
    best, best_by = _best(kind, path, rows, stored[1] if stored else None)
    return Overview(kind=kind, path=str(path), rows=rows, stats=_stats(rows), best=best, links=links, best_by=best_by)


def _stored(path: Path) -> tuple[dict[str, dict], list[str]] | None:
    """The study as its storage holds it now (a running or killed study has no best.json yet)."""
    from automl_nas.study.report import stored_trials

    return stored_trials(path)
