"""NAS-Bench-201 cell strings: op names, edge order, format and strict parse (spec §1.1-§1.3).

Kept here (a dozen lines) rather than imported from the space plugin so that the
lookup evaluators work with only this distribution installed.
"""

from __future__ import annotations

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Canonical edge order (row of alpha / entry of the string): (to, from).
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def format_ops(ops: tuple[int, ...] | list[int]) -> str:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` from six op indices in edge order."""
    names = [OPS[i] for i in ops]
    groups, k = [], 0
    for node in (1, 2, 3):
        groups.append("|" + "|".join(f"{names[k + j]}~{j}" for j in range(node)) + "|")
        k += node
    return "+".join(groups)


def parse_ops(text: str) -> tuple[int, ...]:
    """Six op indices from a canonical string; ``ValueError`` naming the problem otherwise."""
    groups = text.strip().split("+")
    if len(groups) != 3:
        raise ValueError(f"expected 3 node groups joined by '+', got {len(groups)} in {text!r}")
    ops: list[int] = []
    for node, group in enumerate(groups, start=1):
        entries = [e for e in group.split("|") if e]
        if not (group.startswith("|") and group.endswith("|")) or len(entries) != node:
            raise ValueError(f"node {node} must be written |op~0|...|op~{node - 1}|, got {group!r}")
        for j, entry in enumerate(entries):
            name, _, src = entry.partition("~")
            if name not in OPS or src != str(j):
                raise ValueError(f"bad entry {entry!r} for edge {node}<-{j} (ops: {', '.join(OPS)})")
            ops.append(OPS.index(name))
    return tuple(ops)


def canonical_text(genotype: object) -> str:
    """The genotype's NB201 string, checked; accepts a Genotype or a plain string."""
    space = getattr(genotype, "space", "nb201")
    text = getattr(genotype, "text", genotype)
    if space != "nb201":
        raise ValueError(f"genotype of search space {space!r} cannot be looked up in a NAS-Bench-201 table")
    return format_ops(parse_ops(str(text)))
