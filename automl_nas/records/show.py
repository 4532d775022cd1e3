"""`automl show`: a run directory as text."""

from __future__ import annotations

from pathlib import Path

from automl_nas.errors import RunError
from automl_nas.records.rundir import RunDir


def render(path: Path, all_epochs: bool = False) -> str:
    rd = RunDir(path)
    if not rd.recipe_file.exists() and not rd.metrics_file.exists():
        raise RunError(f"{path} is not a run directory (no recipe.toml or metrics.jsonl)", hint="pass a directory under runs/")
    result = rd.read_result() or {"status": "running or killed (no result.json)"}
    metrics = rd.read_metrics()
    lines = [f"run {path}", f"  status      {result.get('status')}"]
    for key in ("recipe", "sampler", "space", "dataset", "seed"):
        if key in result:
            lines.append(f"  {key:<11} {result[key]}")
    lines.append(f"  epochs      {len(metrics)} recorded")
    genotype = result.get("genotype") or (metrics[-1]["genotype"] if metrics else None)
    lines.append(f"  genotype    {genotype}")
    if "search_time_s" in result:
        lines.append(f"  search time {result['search_time_s']:.1f} s")
    for k, v in (result.get("metrics") or {}).items():
        lines.append(f"  {k:<11} {v:.4g}")
    for k, v in (result.get("costs") or {}).items():
        lines.append(f"  {k:<11} {v:,.0f}")
    exp = result.get("expected")
    if exp:
        verdict = "n/a (metric not reported)" if exp["inside"] is None else ("INSIDE" if exp["inside"] else "OUTSIDE")
        ours = "n/a" if exp["ours"] is None else f"{exp['ours']:.2f}"
        lines.append(f"  expected    {exp['metric']}: paper {exp['paper']} (band {exp['low']}-{exp['high']}, {exp['source']}); ours {ours} -> {verdict}")
    if "error" in result:
        lines.append(f"  error       {result['error']}")
    if "eval_error" in result:  # the search finished but its evaluation did not (issue 13)
        lines.append(f"  evaluation  failed: {result['eval_error']}\n  re-score    {result.get('eval_retry', 'automl eval RUN_DIR')}")
    if metrics:
        lines.append("  collapse diagnostics (per epoch: param-free ops, skip fraction, mean edge entropy):")
        shown = metrics if all_epochs else metrics[-5:]
        for rec in shown:
            ent = "  ".join(f"{k[8:]}={v:.3f}" for k, v in rec.items() if k.startswith("entropy_"))
            extra = f" hessian {rec['hessian_eigenvalue']:.3g}" if "hessian_eigenvalue" in rec else ""
            lines.append(f"    epoch {rec['epoch'] + 1:>3}: valid {rec.get('valid_acc', float('nan')):5.1f}%  param-free {rec.get('param_free_ops')}"
                         f"  skip {rec.get('skip_fraction', 0):.2f}  entropy {ent}{extra}")
    return "\n".join(lines)
