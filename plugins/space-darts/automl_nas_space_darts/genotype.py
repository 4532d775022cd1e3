"""DARTS-family genotypes: safe parsing, canonical formatting and derivation rules (no torch).

Text format of the DARTS code (``genotypes.py`` of DARTS, SNAS-Series, DrNAS, AutoDL-Projects)::

    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

* ``2 * steps`` entries: two ``(op, input)`` pairs per node (DARTS, GDAS, DrNAS, SNAS 2-input cells);
* ``steps * (steps + 3) / 2`` entries (14): SNAS' ``edge_all`` cells, one entry per edge, every
  input of a node exactly once (any order within the node), ``none`` allowed.

Parsing walks the Python AST and accepts only literals, ``range(a, b)`` for concat and an
optional ``Genotype(...)`` wrapper or ``NAME = `` prefix, so published cells can be pasted;
nothing is evaluated. Extension: ``reduce=[]`` (with ``reduce_concat=[]``) marks GDAS' fixed
reduction cell (spec §2.6), whose reduction cell is not searched.

Derivation rules (spec §2.5): ``top2`` (canonical DARTS rule), ``edge_all`` (SNAS) and ``top2_joint``
(AutoDL-Projects' GDAS on the DARTS space).
"""

from __future__ import annotations

import ast
import re
from typing import Sequence

import attrs

from automl_nas_space_darts.config import DARTS_OPS

__all__ = [
    "DartsGenotype",
    "derive_edge_all",
    "derive_top2",
    "derive_top2_joint",
    "edge_labels",
    "format_genotype",
    "parse_genotype",
]

Cell = tuple[tuple[str, int], ...]
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def edge_labels(steps: int = 4) -> tuple[str, ...]:
    """Edge order of a cell (row order of α): ``2<-0, 2<-1, 3<-0, ..., 5<-4`` (spec §2.2)."""
    return tuple(f"{i}<-{j}" for i in range(2, steps + 2) for j in range(i))


@attrs.frozen
class DartsGenotype:
    """A parsed DARTS genotype; cells keep the entry order they were written in."""

    normal: Cell
    normal_concat: tuple[int, ...]
    reduce: Cell
    reduce_concat: tuple[int, ...]

    @property
    def fixed_reduction(self) -> bool:
        """True when the reduction cell is GDAS' fixed one (``reduce=[]``)."""
        return len(self.reduce) == 0

    def nodes(self, cell: str, steps: int = 4) -> list[list[tuple[str, int]]]:
        """The ``(op, input)`` pairs feeding each intermediate node of ``cell``."""
        entries = getattr(self, cell)
        return _split_nodes(entries, steps)


def _split_nodes(entries: Sequence[tuple[str, int]], steps: int) -> list[list[tuple[str, int]]]:
    if len(entries) == 2 * steps:
        counts = [2] * steps
    elif len(entries) == steps * (steps + 3) // 2:
        counts = [2 + i for i in range(steps)]
    else:
        raise ValueError(
            f"a cell with {steps} nodes needs {2 * steps} entries (two per node) or "
            f"{steps * (steps + 3) // 2} (one per edge, SNAS edge_all); got {len(entries)}"
        )
    out, pos = [], 0
    for n in counts:
        out.append(list(entries[pos : pos + n]))
        pos += n
    return out


# ---------------------------------------------------------------- formatting


def format_genotype(g: DartsGenotype) -> str:
    """Canonical text: the DARTS ``repr`` of the namedtuple with list-valued concat."""

    def cell(entries: Cell) -> str:
        return "[" + ", ".join(f"({op!r}, {j})" for op, j in entries) + "]"

    def concat(values: tuple[int, ...]) -> str:
        return "[" + ", ".join(str(c) for c in values) + "]"

    return (
        f"Genotype(normal={cell(g.normal)}, normal_concat={concat(g.normal_concat)}, "
        f"reduce={cell(g.reduce)}, reduce_concat={concat(g.reduce_concat)})"
    )


# ---------------------------------------------------------------- parsing

_PREFIX = re.compile(r"^\s*[A-Za-z_]\w*\s*=\s*(?=Genotype\s*\()")


def parse_genotype(text: str, steps: int = 4, ops: Sequence[str] = DARTS_OPS) -> DartsGenotype:
    """Parse DARTS genotype text safely; raise ``ValueError`` naming what is wrong.

    Example:
        >>> pairs = str([("sep_conv_3x3", 0), ("skip_connect", 1)] * 4)
        >>> g = parse_genotype(f"normal={pairs}, normal_concat=range(2, 6), reduce={pairs}, reduce_concat=range(2, 6)")
        >>> g.normal_concat
        (2, 3, 4, 5)
    """
    if not isinstance(text, str):
        raise ValueError(f"a DARTS genotype must be text, got {type(text).__name__}")
    body = _PREFIX.sub("", text.strip(), count=1)
    if not body.startswith("Genotype"):
        body = f"Genotype({body})"
    try:
        tree = ast.parse(body, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not a DARTS genotype (syntax error: {exc.msg})") from None
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"):
        raise ValueError("not a DARTS genotype: expected Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
    values = _call_fields(tree)
    g = DartsGenotype(
        normal=_cell(values["normal"], "normal"),
        normal_concat=_concat(values["normal_concat"], "normal_concat"),
        reduce=_cell(values["reduce"], "reduce"),
        reduce_concat=_concat(values["reduce_concat"], "reduce_concat"),
    )
    validate_genotype(g, steps, ops)
    return g


def _call_fields(call: ast.Call) -> dict[str, ast.AST]:
    if len(call.args) > 4:
        raise ValueError(f"Genotype takes 4 fields ({', '.join(_FIELDS)}), got {len(call.args)} positional")
    values = dict(zip(_FIELDS, call.args))
    for kw in call.keywords:
        if kw.arg not in _FIELDS:
            raise ValueError(f"unknown Genotype field {kw.arg!r} (expected {', '.join(_FIELDS)})")
        if kw.arg in values:
            raise ValueError(f"Genotype field {kw.arg!r} given twice")
        values[kw.arg] = kw.value
    missing = [f for f in _FIELDS if f not in values]
    if missing:
        raise ValueError(f"Genotype is missing {', '.join(missing)}")
    return values


def _cell(node: ast.AST, name: str) -> Cell:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{name}: only literal lists of (op, input) pairs are allowed") from None
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name}: expected a list of (op, input) pairs, got {type(value).__name__}")
    out = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and not isinstance(item[1], bool)):
            raise ValueError(f"{name}: entry {item!r} is not an (op name, input index) pair")
        out.append((item[0], item[1]))
    return tuple(out)


def _concat(node: ast.AST, name: str) -> tuple[int, ...]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        try:
            args = [ast.literal_eval(a) for a in node.args]
        except ValueError:
            args = []
        if 1 <= len(args) <= 2 and all(isinstance(a, int) for a in args):
            return tuple(range(*args))
        raise ValueError(f"{name}: range() takes one or two integer literals")
    try:
        value = ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{name}: expected a list of node indices or range(a, b)") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
        raise ValueError(f"{name}: expected a list of node indices, got {value!r}")
    return tuple(value)


def validate_genotype(g: DartsGenotype, steps: int = 4, ops: Sequence[str] = DARTS_OPS) -> None:
    """Raise ``ValueError`` unless every entry names a known op and a valid earlier node."""
    for name in ("normal", "reduce"):
        entries, concat = getattr(g, name), getattr(g, f"{name}_concat")
        if name == "reduce" and not entries:
            if concat:
                raise ValueError("reduce=[] (GDAS fixed reduction cell) needs reduce_concat=[]")
            continue
        per_node = _split_nodes(entries, steps)
        edge_all = len(entries) != 2 * steps
        for i, pairs in enumerate(per_node, start=2):
            for op, j in pairs:
                if op not in ops:
                    raise ValueError(f"{name}: unknown op {op!r} (allowed: {', '.join(ops)})")
                if not 0 <= j < i:
                    raise ValueError(f"{name}: node {i} cannot take input {j} (inputs are 0..{i - 1})")
            if edge_all and sorted(j for _, j in pairs) != list(range(i)):
                raise ValueError(f"{name}: an edge_all cell lists every input of node {i} exactly once, got {pairs}")
        if not concat or any(not 0 <= c < steps + 2 for c in concat) or len(set(concat)) != len(concat):
            raise ValueError(f"{name}_concat: expected distinct node indices in 0..{steps + 1}, got {list(concat)}")


# ---------------------------------------------------------------- derivation


def derive_top2(probs: Sequence[Sequence[float]], ops: Sequence[str], steps: int = 4) -> Cell:
    """Canonical DARTS rule (spec §2.5) on row-wise probabilities ``P`` (E x K).

    Per node: strength of input j = max over k != none of P[e(i<-j), k]; keep the two strongest
    inputs (stable sort: ties to the smaller j); op = argmax over k != none (ties to smaller k);
    list the two pairs in decreasing strength.
    """
    allowed = [k for k, name in enumerate(ops) if name != "none"]
    out: list[tuple[str, int]] = []
    start = 0
    for i in range(2, steps + 2):
        best = []  # (strength, op index) per input j
        for j in range(i):
            row = probs[start + j]
            k_best = allowed[0]
            for k in allowed[1:]:
                if row[k] > row[k_best]:
                    k_best = k
            best.append((row[k_best], k_best))
        order = sorted(range(i), key=lambda j: -best[j][0])[:2]  # sorted() is stable
        out.extend((ops[best[j][1]], j) for j in order)
        start += i
    return tuple(out)


def derive_top2_joint(probs: Sequence[Sequence[float]], ops: Sequence[str], steps: int = 4) -> Cell:
    """AutoDL-Projects' GDAS rule (``xautodl/models/cell_searchs/search_model_gdas_nasnet.py``
    ``genotype()._parse``, lines 129-143): per node, every (op != none, input j) pair with its
    probability, in input-major order, stable-sorted by decreasing probability; keep the first two.
    Unlike :func:`derive_top2` both pairs may read the same input (then the node has one input)."""
    out: list[tuple[str, int]] = []
    start = 0
    for i in range(2, steps + 2):
        pairs = [(probs[start + j][k], name, j) for j in range(i) for k, name in enumerate(ops) if name != "none"]
        best = sorted(pairs, key=lambda t: -t[0])[:2]  # sorted() is stable: ties to smaller j, then smaller k
        out.extend((name, j) for _, name, j in best)
        start += i
    return tuple(out)


def derive_edge_all(probs: Sequence[Sequence[float]], ops: Sequence[str], steps: int = 4) -> Cell:
    """SNAS rule: every edge with its argmax op, ``none`` included (ties to smaller k), in edge order."""
    out = []
    for e, label in enumerate(edge_labels(steps)):
        row = probs[e]
        k_best = max(range(len(ops)), key=lambda k: (row[k], -k))
        out.append((ops[k_best], int(label.split("<-")[1])))
    return tuple(out)
