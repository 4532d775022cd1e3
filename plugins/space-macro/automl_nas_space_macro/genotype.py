"""Macro genotypes, their morphisms and the Auto-Keras edit distance (no torch).

A genotype is a chain of layers and a set of skip connections, written
``macro:c16,r,c16,p,c32;0>2``:

* ``c<w>``: 3x3 convolution to ``w`` channels, BatchNorm, ReLU;
* ``r``: residual 3x3 convolution at the incoming width, ``x + BN(conv(x))`` (what a deepen
  inserts: with BN scale and shift 0 it is the identity);
* ``p``: 2x2 max pooling.

The first layer is a ``c`` (it reads the image). ``i>j`` (``i < j``) adds layer ``i``'s output,
through a 1x1 convolution, to layer ``j``'s output; no pooling may lie in ``i+1 .. j`` (equal
spatial sizes) and neither end is a pooling layer.

Morphisms (all exact; see :mod:`automl_nas_space_macro.network` for the weight transfer):
``deepen(i)`` inserts an ``r`` after layer ``i``; ``widen(i, w)`` widens conv layer ``i`` to ``w``
channels (Net2Wider: units replicated, their consumers' weights divided by the replica count);
``skip(i, j)`` adds the skip ``i>j`` with a zero 1x1 convolution.
"""

from __future__ import annotations

import re

import attrs

from automl_nas.api.space import Morphism

__all__ = ["MacroGenotype", "apply", "edit_distance", "format_macro", "morphisms", "parse_macro", "widths"]

_LAYER = re.compile(r"^(c[1-9]\d*|r|p)$")
_SKIP = re.compile(r"^(\d+)>(\d+)$")


@attrs.frozen
class MacroGenotype:
    layers: tuple[str, ...]
    skips: tuple[tuple[int, int], ...] = ()  # sorted, distinct


def parse_macro(text: str) -> MacroGenotype:
    """Parse and validate ``macro:...``; ``ValueError`` names what is wrong."""
    if not isinstance(text, str) or not text.startswith("macro:"):
        raise ValueError(f"a macro genotype starts with 'macro:', got {text!r}")
    body = text[len("macro:"):]
    layer_text, _, skip_text = body.partition(";")
    layers = tuple(t.strip() for t in layer_text.split(","))
    for t in layers:
        if not _LAYER.match(t):
            raise ValueError(f"unknown layer {t!r} (layers: c<width>, r, p)")
    skips = []
    for t in (s.strip() for s in skip_text.split(",")) if skip_text.strip() else ():
        m = _SKIP.match(t)
        if not m:
            raise ValueError(f"skip {t!r} is not 'i>j'")
        skips.append((int(m.group(1)), int(m.group(2))))
    g = MacroGenotype(layers, tuple(sorted(set(skips))))
    validate(g)
    return g


def format_macro(g: MacroGenotype) -> str:
    text = "macro:" + ",".join(g.layers)
    return text + (";" + ",".join(f"{i}>{j}" for i, j in g.skips) if g.skips else "")


def validate(g: MacroGenotype) -> None:
    if not g.layers or not g.layers[0].startswith("c"):
        raise ValueError("the first layer must be a conv layer c<width> (it reads the image)")
    for i, j in g.skips:
        if not _skip_ok(g.layers, i, j):
            raise ValueError(f"skip {i}>{j}: needs 0 <= i < j < {len(g.layers)}, no pooling at either end or in between")


def _skip_ok(layers: tuple[str, ...], i: int, j: int) -> bool:
    return 0 <= i < j < len(layers) and layers[i] != "p" and all(t != "p" for t in layers[i + 1:j + 1])


def widths(g: MacroGenotype) -> list[int]:
    """Output channels of every layer."""
    out, w = [], 0
    for t in g.layers:
        w = int(t[1:]) if t.startswith("c") else w
        out.append(w)
    return out


def morphisms(g: MacroGenotype, *, max_width: int, max_layers: int) -> list[Morphism]:
    out = []
    if len(g.layers) < max_layers:
        out += [Morphism("deepen", (i,)) for i, t in enumerate(g.layers) if t != "p"]
    for i, t in enumerate(g.layers):
        if t.startswith("c") and 2 * int(t[1:]) <= max_width:
            out.append(Morphism("widen", (i, 2 * int(t[1:]))))
    out += [Morphism("skip", (i, j)) for i in range(len(g.layers)) for j in range(i + 1, len(g.layers))
            if (i, j) not in g.skips and _skip_ok(g.layers, i, j)]
    return out


def apply(g: MacroGenotype, m: Morphism) -> MacroGenotype:
    if m.kind == "deepen":
        (i,) = m.args
        shift = lambda k: k + 1 if k > i else k  # noqa: E731
        return MacroGenotype(g.layers[:i + 1] + ("r",) + g.layers[i + 1:],
                             tuple(sorted((shift(a), shift(b)) for a, b in g.skips)))
    if m.kind == "widen":
        i, w = m.args
        return MacroGenotype(g.layers[:i] + (f"c{w}",) + g.layers[i + 1:], g.skips)
    if m.kind == "skip":
        return MacroGenotype(g.layers, tuple(sorted(g.skips + (tuple(m.args),))))
    raise ValueError(f"unknown macro morphism {m}")


def edit_distance(a: MacroGenotype, b: MacroGenotype) -> float:
    """Auto-Keras' distance (Jin et al., KDD 2019, §3.1): the layer sequences' edit distance, a
    conv-to-conv substitution costing |w1 - w2| / max(w1, w2) and any other change 1, plus the
    skips' distance (:func:`skips_distance`)."""
    la, lb = a.layers, b.layers
    d = [[0.0] * (len(lb) + 1) for _ in range(len(la) + 1)]
    for i in range(len(la) + 1):
        d[i][0] = float(i)
    for j in range(len(lb) + 1):
        d[0][j] = float(j)
    for i in range(1, len(la) + 1):
        for j in range(1, len(lb) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + _sub(la[i - 1], lb[j - 1]))
    return d[-1][-1] + skips_distance(a.skips, b.skips)


def skips_distance(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> float:
    """Auto-Keras' skip-connection distance: the skips matched one to one at least total cost
    (``linear_sum_assignment``), a pair costing (|start_a - start_b| + |span_a - span_b|) /
    (max starts + max spans), each skip left unmatched 1. Counting every skip not present in
    both charged a deepen, which moves the indices of the skips after it, 2 per such skip: a
    one-edit child sat further than networks with other skips (its kernel value exp(-9))."""
    if not a or not b:
        return float(abs(len(a) - len(b)))
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    cost = np.array([[_skip_cost(x, y) for y in b] for x in a])
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum()) + abs(len(a) - len(b))


def _skip_cost(x: tuple[int, int], y: tuple[int, int]) -> float:
    span_x, span_y = abs(x[1] - x[0]), abs(y[1] - y[0])
    scale = max(x[0], y[0]) + max(span_x, span_y)
    return (abs(x[0] - y[0]) + abs(span_x - span_y)) / scale if scale else 0.0


def _sub(x: str, y: str) -> float:
    if x == y:
        return 0.0
    if x.startswith("c") and y.startswith("c"):
        wx, wy = int(x[1:]), int(y[1:])
        return abs(wx - wy) / max(wx, wy)
    return 1.0
