"""Warm start through network morphisms (issue 18; Auto-Keras, Jin et al., KDD 2019).

A genotype is warm-started from a network the same run already trained: the run's records
(``retrain/<key>/job.json`` with a finished ``last.pt``, written by :mod:`.checkpoint`) are
scanned for a parent trained under the same settings, data, space and seed from which a short
sequence of the space's morphisms reaches the genotype; the parent's weights are loaded and
carried through that sequence (``space.morph_network``), so the child starts from its parent's
function and is trained for the evaluator's (short) schedule. Any proposer's genotypes are
found this way; the ``morphism`` proposer's own ``lineage`` is not needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from automl_nas.api import Genotype, InputSpec, SearchSpace, supports_morphisms

__all__ = ["find_parent", "morphism_path", "warm_network"]

_MATCH = ("space", "settings", "augment", "seed", "data")


def morphism_path(space: SearchSpace, parent: Genotype, child: Genotype, max_edits: int) -> tuple | None:
    """The shortest sequence (<= ``max_edits``) of ``space.morphisms`` from ``parent`` to ``child``,
    searched breadth first along edits that do not move away from ``child`` (edit distance)."""
    frontier, seen = [(parent, ())], {parent.text}
    for _ in range(max_edits):
        nxt = []
        for genotype, path in frontier:
            d = space.edit_distance(genotype, child)
            for m in space.morphisms(genotype):
                g = space.apply_morphism(genotype, m)
                if g == child:
                    return path + (m,)
                if g.text not in seen and space.edit_distance(g, child) <= d:
                    seen.add(g.text)
                    nxt.append((g, path + (m,)))
        frontier = nxt
    return None


def find_parent(run_dir: str | Path, job: dict[str, Any], space: SearchSpace, genotype: Genotype,
                max_edits: int) -> tuple[Path, Genotype, tuple] | None:
    """``(checkpoint folder, parent genotype, morphisms)`` of the nearest finished parent, or ``None``."""
    best = None
    for job_file in sorted(Path(run_dir).glob("retrain/*/job.json")):
        other = json.loads(job_file.read_text())
        if other.get("genotype") == genotype.text or any(other.get(k) != job.get(k) for k in _MATCH):
            continue
        state_file = job_file.parent / "last.pt"
        if not state_file.exists() or not _finished(job_file.parent, other):
            continue
        parent = space.parse(other["genotype"])
        path = morphism_path(space, parent, genotype, max_edits)
        if path is not None and (best is None or len(path) < len(best[2])):
            best = (job_file.parent, parent, path)
    return best


def _finished(folder: Path, job: dict[str, Any]) -> bool:
    lines = (folder / "epochs.jsonl").read_text().splitlines() if (folder / "epochs.jsonl").exists() else []
    return len(lines) >= int(job["settings"]["epochs"])


def warm_network(space: SearchSpace, folder: Path, parent: Genotype, path: tuple, inputs: InputSpec,
                 device: str) -> torch.nn.Module:
    """The parent's trained network carried through ``path``: a network of the child genotype."""
    net = space.build_network(parent, inputs).to(device)
    state = torch.load(folder / "last.pt", map_location=device, weights_only=True)
    net.load_state_dict(state["model"])
    genotype = parent
    for m in path:
        net = space.morph_network(net, genotype, m, inputs)
        genotype = space.apply_morphism(genotype, m)
    return net


def can_warm_start(space: SearchSpace) -> bool:
    return supports_morphisms(space)
