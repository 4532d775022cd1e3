"""The NAS-Bench-Graph macro space as data: link patterns, ops, genotype text, benchmark hash.

An architecture is ``(link, ops)``: four computing nodes; node ``i + 1`` applies
``ops[i]`` to node ``link[i]`` (0 is the pre-processed input); every leaf (a node
no other node reads) feeds the output. The space is the 9 link patterns of the
benchmark (``LINKS``) x ``len(ops) ** 4`` op choices (9 ops: 59,049 points).

Genotype text (readable, canonical, one space):
``link=[0,0,1,2] ops=[gcn,gat,sage,fc]``.

:func:`benchmark_hash` is the key of the benchmark's tables: a line-by-line port of
``Arch.valid_hash`` in ``nas_bench_graph/architecture.py`` (nas-bench-graph 1.4.0,
Apache-2.0): ``regularize`` (relabel to a listed pattern), ``move_skip_op``
(isomorphic skip placements), ``equalpart_sort`` (order interchangeable branches),
then base-10 digits ``link index, op0..op3`` over the 9-op list. It is ported
rather than imported so that the space needs no benchmark files; the tests check
it against the package's own function on every point of the space. Pure python:
no torch here.
"""

from __future__ import annotations

import re

__all__ = [
    "LINKS", "OPS", "PROTEINS_OPS", "NUM_LAYERS", "benchmark_hash", "format_arch", "parse_arch", "link_label",
    "leaves",
]

NUM_LAYERS = 4
#: the benchmark's macro link patterns (``link_list``), in its hash order
LINKS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3),
    (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3),
)
#: the benchmark's operations (``gnn_list``), in its hash order
OPS: tuple[str, ...] = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: the five operations of the ogbn-proteins table (``gnn_list_proteins``)
PROTEINS_OPS: tuple[str, ...] = ("gcn", "sage", "arma", "fc", "skip")

_TEXT = re.compile(r"^\s*link\s*=\s*\[([^\]]*)\]\s+ops\s*=\s*\[([^\]]*)\]\s*$")


def link_label(link: tuple[int, ...]) -> str:
    """``(0, 0, 1, 2)`` -> ``"0012"`` (the op names of the ``link`` group)."""
    return "".join(str(i) for i in link)


def leaves(link: tuple[int, ...]) -> tuple[int, ...]:
    """The nodes no computing node reads (they feed the output), in node order."""
    used = set(link)
    return tuple(i for i in range(len(link) + 1) if i not in used)


def format_arch(link: tuple[int, ...], ops: tuple[str, ...]) -> str:
    return f"link=[{','.join(str(i) for i in link)}] ops=[{','.join(ops)}]"


def parse_arch(text: str, ops_allowed: tuple[str, ...] = OPS) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``(link, ops)`` of a genotype text; ``ValueError`` saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"expected a string, got {type(text).__name__}")
    match = _TEXT.match(text)
    if not match:
        raise ValueError("expected 'link=[a,b,c,d] ops=[op,op,op,op]', e.g. 'link=[0,0,1,2] ops=[gcn,gat,sage,fc]'")
    try:
        link = tuple(int(t) for t in match.group(1).split(","))
    except ValueError:
        raise ValueError(f"link [{match.group(1)}] must be four integers") from None
    ops = tuple(t.strip() for t in match.group(2).split(","))
    if len(ops) != NUM_LAYERS:
        raise ValueError(f"{len(ops)} ops given; the space has {NUM_LAYERS} layers")
    if link not in LINKS:
        if link in _REGULARIZE:  # the same network with its nodes numbered otherwise (the benchmark's README spells some so)
            listed, perm = _REGULARIZE[link]
            raise ValueError(f"link {list(link)} is the benchmark's pattern {link_label(listed)} with its nodes numbered "
                             f"otherwise: write the same network as '{format_arch(listed, tuple(ops[i] for i in perm))}'")
        raise ValueError(f"link {list(link)} is not one of the benchmark's 9 patterns "
                         f"({', '.join(link_label(lk) for lk in LINKS)})")
    unknown = [op for op in ops if op not in ops_allowed]
    if unknown:
        raise ValueError(f"unknown op(s) {', '.join(unknown)} (allowed: {', '.join(ops_allowed)})")
    return link, ops


# ---- the benchmark's hashing (port of nas_bench_graph/architecture.py, Arch.valid_hash) ----------

#: ``regularize``: link pattern outside LINKS -> (listed pattern, op permutation)
_REGULARIZE: dict[tuple[int, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {
    (0, 0, 0, 2): ((0, 0, 0, 1), (1, 0, 2, 3)),
    (0, 0, 0, 3): ((0, 0, 0, 1), (2, 0, 1, 3)),
    (0, 0, 1, 0): ((0, 0, 0, 1), (0, 1, 3, 2)),
    (0, 0, 2, 0): ((0, 0, 0, 1), (1, 0, 3, 2)),
    (0, 0, 2, 1): ((0, 0, 1, 2), (1, 0, 2, 3)),
    (0, 0, 2, 2): ((0, 0, 1, 1), (1, 0, 2, 3)),
    (0, 0, 2, 3): ((0, 0, 1, 3), (1, 0, 2, 3)),
    (0, 1, 0, 0): ((0, 0, 0, 1), (0, 2, 3, 1)),
    (0, 1, 0, 1): ((0, 0, 1, 1), (0, 2, 1, 3)),
    (0, 1, 0, 2): ((0, 0, 1, 3), (0, 2, 1, 3)),
    (0, 1, 0, 3): ((0, 0, 1, 2), (0, 2, 1, 3)),
    (0, 1, 1, 0): ((0, 0, 1, 1), (0, 3, 1, 2)),
    (0, 1, 1, 3): ((0, 1, 1, 2), (0, 2, 1, 3)),
    (0, 1, 2, 0): ((0, 0, 1, 3), (0, 3, 1, 2)),
    (0, 1, 2, 1): ((0, 1, 1, 2), (0, 1, 3, 2)),
}


def _regularize(link: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
    if tuple(link) in _REGULARIZE:
        new, perm = _REGULARIZE[tuple(link)]
        return list(new), [ops[i] for i in perm]
    return list(link), list(ops)


def _move_skip_op(link: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
    link, ops = link[:], ops[:]

    def move_one(k: int, link: list[int], ops: list[str]) -> tuple[list[int], list[str]]:
        ops = [ops[k]] + ops[:k] + ops[k + 1:]
        for i, father in enumerate(link):
            if father == k + 1:
                link[i] = link[k]
            if father <= k:
                link[i] = link[i] + 1
        return [0] + link[:k] + link[k + 1:], ops

    def from_input(k: int, link: list[int], ops: list[str]) -> bool:
        # whether node k + 1 still has the input's dimension (a chain of skips down to the input)
        while k > -1:
            if ops[k] != "skip":
                return False
            k = link[k] - 1
        return True

    for i in range(len(link)):
        if ops[i] != "skip":
            continue
        son = brother = False
        for j, father in enumerate(link):
            if father == i + 1:
                son = True
            elif j != i and father == link[i]:
                brother = True
        # same precedence as the original: son or (not brother) or (from_input and not son)
        if son or not brother or (from_input(i, link, ops) and not son):
            link, ops = move_one(i, link, ops)
    if link == [0, 1, 2, 1]:
        link, ops = [0, 1, 1, 2], ops[:2] + [ops[3], ops[2]]
    elif link == [0, 1, 1, 3]:
        link, ops = [0, 1, 1, 2], [ops[0], ops[2], ops[1], ops[3]]
    return link, ops


def _equalpart_sort(link: list[int], ops: list[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(OPS)}
    original = ops
    ops = ops[:]
    ids: list[int] | None = None
    if link == [0, 0, 0, 0]:
        ids = [0, 1, 2, 3]
    elif link == [0, 0, 0, 1]:
        ids = [1, 2]
    elif link == [0, 0, 1, 1]:
        ids = [2, 3]
    elif link == [0, 0, 1, 2]:
        # the original compares the ops *before* any change (its closure reads them), as here
        if rank[original[0]] > rank[original[1]] or (original[0] == original[1] and rank[original[2]] > rank[original[3]]):
            ops = [ops[1], ops[0], ops[3], ops[2]]
    elif link == [0, 1, 1, 1]:
        ids = [1, 2, 3]
    elif link == [0, 1, 2, 2]:
        ids = [2, 3]
    if ids:
        for pos, op_id in zip(ids, sorted(rank[ops[i]] for i in ids)):
            ops[pos] = OPS[op_id]
    return ops


def _hash(link: list[int], ops: list[str]) -> int:
    value = LINKS.index(tuple(link))  # the original raises (UnboundLocalError) on an unlisted pattern
    for op in ops:
        value = value * (len(OPS) + 1) + OPS.index(op)
    return value


def benchmark_hash(link: tuple[int, ...], ops: tuple[str, ...]) -> int:
    """The key of ``(link, ops)`` in the NAS-Bench-Graph tables (``Arch(link, ops).valid_hash()``)."""
    lk, op = _regularize(list(link), list(ops))
    lk, op = _move_skip_op(lk, op)
    op = _equalpart_sort(lk, op)
    return _hash(lk, op)
