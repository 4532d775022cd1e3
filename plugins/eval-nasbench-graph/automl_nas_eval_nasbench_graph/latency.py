"""A per-op latency table for the GNN space, fitted to a NAS-Bench-Graph table's measured latencies.

The benchmark measures one latency per architecture (seconds of a full-graph inference).
Resource-aware objectives (``snas_resource`` with ``costs = "latency"``) need a per-op
table in the host's format (:mod:`automl_nas.costs`), so the architecture latencies are
fitted by least squares with an additive model over the space's own coordinates,
``latency(link, ops) ~ sum_i a[i, ops_i] + b[link]``, on every point of the space (each
read through the benchmark's hash, the four-skip networks left out). Per layer the
cheapest op is shifted to 0 and the shifts move into the link group, which every
architecture uses exactly once. The fit gives some link patterns a negative latency; a
table holds none, so the whole link group is raised by the most negative one
(``measured.offset_ms``): the table's cost of a genotype is the fitted latency plus that
constant. A constant on every option of a group leaves the differences, and with them a
resource loss's gradient (its weights over a group sum to 1), exactly as fitted; clipping each
negative value to 0, as before, charged those patterns up to 0.48 ms more than the fit (R² of
the table 0.915 against the fit's 0.939 on Cora).

Command line (the table must match the run's space options and input width, like a
table of ``automl profile-ops``)::

    python -m automl_nas_eval_nasbench_graph.latency --dataset cora \
        --recipe recipes/gnn-latency-study.toml --features 1433 --out recipes/gnn-latency-cora.json
"""

from __future__ import annotations

import argparse
import itertools
from datetime import datetime, timezone

import numpy as np

from automl_nas_eval_nasbench_graph.config import DATASETS
from automl_nas_eval_nasbench_graph.table import load_table
from automl_nas_space_gnn.encoding import LINKS, NUM_LAYERS, benchmark_hash

__all__ = ["fit_op_latency", "latency_table"]

_ALL_SKIP = 88888


def fit_op_latency(dataset: str, ops: tuple[str, ...], path: str = "") -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(layers (4, K) ms, link (9,) ms, r2, offset ms)``: the additive fit, shifted to
    non-negative values; every architecture's cost is its fitted latency plus ``offset``."""
    table = load_table(path, dataset)
    rows, target = [], []
    k = len(ops)
    for li, link in enumerate(LINKS):
        for choice in itertools.product(range(k), repeat=NUM_LAYERS):
            key = benchmark_hash(link, tuple(ops[c] for c in choice))
            if key == _ALL_SKIP:
                continue
            rows.append([i * k + c for i, c in enumerate(choice)] + [NUM_LAYERS * k + li])
            target.append(1000.0 * table[key]["latency"])
    design = np.zeros((len(rows), NUM_LAYERS * k + len(LINKS)))
    np.put_along_axis(design, np.asarray(rows), 1.0, axis=1)
    y = np.asarray(target)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = 1.0 - float(np.sum((design @ coef - y) ** 2) / np.sum((y - y.mean()) ** 2))
    layers, link = coef[: NUM_LAYERS * k].reshape(NUM_LAYERS, k), coef[NUM_LAYERS * k:]
    shift = layers.min(axis=1, keepdims=True)
    layers, link = layers - shift, link + shift.sum()
    offset = max(0.0, -float(link.min()))
    return layers, link + offset, r2, offset


def latency_table(space, inputs, dataset: str, path: str = ""):
    """A :class:`~automl_nas.costs.LatencyTable` for ``space`` (a built GNN space) and the run's ``inputs``."""
    from automl_nas.costs import GroupLatency, LatencyTable, plain_data, space_options

    layers, link, r2, offset = fit_op_latency(dataset, tuple(space.ops), path)
    g_layers, g_link = space.groups()
    groups = {
        g_layers.name: GroupLatency(ops=g_layers.ops, edges=g_layers.edges, cells=1,
                                    latency_ms=(tuple(tuple(float(v) for v in row) for row in layers),)),
        g_link.name: GroupLatency(ops=g_link.ops, edges=g_link.edges, cells=1, latency_ms=(((*map(float, link),),),)),
    }
    measured = {"source": f"NAS-Bench-Graph {DATASETS[dataset]} table (nas-bench-graph 1.4.0), additive least-squares fit",
                "r2": round(r2, 4),
                # the same on every architecture (no cost below 0): differences are the fit's
                "offset_ms": round(offset, 4), "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                # what a mismatch names as the fix (`automl profile-ops` cannot time the GNN's ops)
                "regenerate": f"python -m automl_nas_eval_nasbench_graph.latency --dataset {dataset} --recipe "
                              f"RECIPE [--profile NAME] [--set KEY=VALUE ...] --out {{out}}"}
    return LatencyTable(path="", space=space.name, fingerprint=plain_data(space.fingerprint()),
                        inputs={"channels": inputs.channels, "height": inputs.height, "width": inputs.width},
                        groups=groups, options=space_options(space), measured=measured)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cora", choices=sorted(DATASETS))
    parser.add_argument("--recipe", required=True, help="the search recipe whose space and data the table is for")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--features", type=int, default=0,
                        help="node-feature width of the run's graph (default: load the recipe's data set to read it)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from automl_nas import AutomlError, open_session
    from automl_nas.api import GraphSet, InputSpec

    session = open_session()
    registry = session.registry
    # Only the space and the data matter here; the recipe's objectives may name the table being written.
    overrides = [*args.overrides, 'search.objectives=[{name="cross_entropy"}]']
    try:
        plan = session.plan(args.recipe, profile=args.profile, overrides=overrides)
    except AutomlError as exc:
        raise SystemExit(f"automl: {exc}") from None
    space = plan.space.build(registry)
    features = args.features
    if not features:
        data = plan.dataset.build(registry).load()
        if not isinstance(data, GraphSet):
            raise SystemExit(f"{args.recipe}: the recipe's data set is not a graph")
        features = data.num_features
    inputs = InputSpec(channels=features, height=1, width=1, num_classes=1)  # the table depends on the width only
    table = latency_table(space, inputs, args.dataset)
    table.save(args.out)
    print(f"wrote {args.out}: per-op latency (ms) fitted to the {DATASETS[args.dataset]} table, R^2 = {table.measured['r2']}")


if __name__ == "__main__":
    main()
