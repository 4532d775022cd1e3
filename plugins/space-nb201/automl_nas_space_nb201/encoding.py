"""NAS-Bench-201 cell encoding: canonical string <-> op-index tuple <-> integer id.

Source: AutoDL-Projects ``xautodl/models/cell_searchs/genotypes.py`` (``Structure.tostr``,
``str2structure``) and ``xautodl/models/cell_operations.py`` (``NAS_BENCH_201``); spec §1.1-§1.3.

* Op order (the columns of α): ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``.
* Edge order (the rows of α and the entries of the string, left to right):
  ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``.
* String: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; ``none`` entries are kept.
* Integer id (enumeration order): mixed radix 5 with edge 0 most significant,
  ``id = sum(ops[e] * 5 ** (5 - e))``. So id 0 is the all-``none`` cell, id 1 differs from it
  on edge 5 (``3<-2``) only, and id 15,624 is the all-``avg_pool_3x3`` cell.

Deviation: AutoDL-Projects' parser accepts a node's inputs in any order; this parser accepts
only the canonical form (inputs ``~0, ~1, ...`` in increasing order), so that one cell has
exactly one string.
"""

from __future__ import annotations

import operator

__all__ = [
    "EDGES",
    "EDGE_LABELS",
    "NUM_ARCHS",
    "NUM_EDGES",
    "NUM_NODES",
    "OPS",
    "format_ops",
    "id_to_ops",
    "id_to_str",
    "ops_to_id",
    "parse_ops",
    "str_to_id",
]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4  # node 0 = cell input, node 3 = cell output
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, NUM_NODES) for j in range(i))
EDGE_LABELS: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES  # 15,625

_OP_INDEX = {name: k for k, name in enumerate(OPS)}


def _as_int(value: object, low: int, high: int, what: str) -> int:
    # operator.index accepts numpy / torch integer scalars but not floats or bools-as-strings.
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{what} must be an int in {low}..{high}, got {value!r}")
    return number


def _check_ops(ops: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    ops = tuple(ops)
    if len(ops) != NUM_EDGES:
        raise ValueError(f"an NB201 cell has {NUM_EDGES} edges, got {len(ops)} op indices: {ops}")
    return tuple(_as_int(k, 0, len(OPS) - 1, f"op index of edge {e} ({EDGE_LABELS[e]})") for e, k in enumerate(ops))


def format_ops(ops: tuple[int, ...] | list[int]) -> str:
    """Canonical string of per-edge op indices, e.g. ``(1,) * 6`` -> the all-skip cell."""
    ops = _check_ops(ops)
    groups, e = [], 0
    for node in range(1, NUM_NODES):
        entries = [f"{OPS[ops[e + j]]}~{j}" for j in range(node)]
        e += node
        groups.append("|" + "|".join(entries) + "|")
    return "+".join(groups)


def parse_ops(text: str) -> tuple[int, ...]:
    """Per-edge op indices of a canonical string; ``ValueError`` says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"an NB201 cell string must be a str, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise ValueError(
            f"an NB201 cell string has {NUM_NODES - 1} node groups joined by '+', got {len(groups)} in {text!r}"
        )
    ops: list[int] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or group[0] != "|" or group[-1] != "|":
            raise ValueError(f"node {node} group {group!r} must be wrapped in '|...|' (in {text!r})")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise ValueError(f"node {node} must have {node} input edge(s), got {len(entries)} in group {group!r}")
        for j, entry in enumerate(entries):
            name, sep, src = entry.partition("~")
            if not sep:
                raise ValueError(f"entry {entry!r} of node {node} must read 'op~input'")
            if name not in _OP_INDEX:
                raise ValueError(f"unknown op {name!r} in entry {entry!r} of node {node}; allowed: {', '.join(OPS)}")
            if src != str(j):
                raise ValueError(
                    f"entry {entry!r} of node {node} must read from input {j} (entries list inputs 0..{node - 1} in order)"
                )
            ops.append(_OP_INDEX[name])
    return tuple(ops)


def ops_to_id(ops: tuple[int, ...] | list[int]) -> int:
    """Integer id in ``range(NUM_ARCHS)``; edge 0 is the most significant base-5 digit."""
    index = 0
    for k in _check_ops(ops):
        index = index * len(OPS) + k
    return index


def id_to_ops(index: int) -> tuple[int, ...]:
    """Inverse of :func:`ops_to_id`."""
    index = _as_int(index, 0, NUM_ARCHS - 1, "NB201 cell id")
    digits = []
    for _ in range(NUM_EDGES):
        index, k = divmod(index, len(OPS))
        digits.append(k)
    return tuple(reversed(digits))


def str_to_id(text: str) -> int:
    return ops_to_id(parse_ops(text))


def id_to_str(index: int) -> str:
    return format_ops(id_to_ops(index))
