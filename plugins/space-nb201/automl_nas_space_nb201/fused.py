"""The fast forward of a NAS-Bench-201 search cell: same function as the per-edge mixed ops (issue 8).

Work is organised by *source* node instead of by edge (spec §1.2: node j feeds the edges
``(i, j)`` for i > j). For each source node:

* ``skip_connect`` is the node itself and ``avg_pool_3x3`` is computed once: parameter-free ops
  give the same tensor on every edge leaving the node;
* ReLU is computed once, and the ``nor_conv_1x1`` (resp. ``nor_conv_3x3``) convolutions of all
  edges that need one run as one convolution over their concatenated weights, with one
  batch-norm call (per-channel statistics, so exact), split afterwards
  (:func:`automl_nas.nn.fused.relu_conv_bn_group`); the edge weight is BN's scale; for
  narrow ops (partial channels) the 1x1 kernels ride in the 3x3 conv, zero-padded;
* ``avg_pool_3x3`` is a depthwise box sum times the ``1 / count`` map, computed once;
* ``none`` and masked (pruned) ops are never run; with a hard sample (GDAS) only the sampled
  op of each edge runs, and same-kind sampled convs of one node are still grouped.

Node i is then ``sum_e sum_k w[e, k] * o_k`` over its incoming edges, one multiply-add per term
(:func:`automl_nas.nn.fused.weighted_sum`); GDAS' NAS-Bench-201 form adds the
zero-valued weights of the unselected ops as scalars, as the plain path does. With partial
channels (DrNAS, spec §7.3) the ops see the first ``C / k`` channels; since the channel shuffle
is a permutation, ``sum_e shuffle([mixed_e, rest_e]) = shuffle([sum_e mixed_e, sum_e rest_e])``.
An inner node is never materialised shuffled: its ops' channels and its bypass come out of
:func:`automl_nas.nn.shuffle_split` as dense channels-last tensors (the cell input's from
:func:`automl_nas.nn.split_dense`), and the bypass sum is a running sum over the source nodes
(issue 15). With soft weights each edge's 1x1 and 3x3 conv outputs are summed in one dense add
over all edges of a source before they join the node sums.

The per-edge modules stay the parameter holders: state_dict, checkpoints and widening are
unchanged. Per-forward bookkeeping (which ops run, the gathered weights) depends only on the
sample, so it is computed once per forward and shared by all cells through
``EdgeWeights``' cache.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

from automl_nas.api.arch import EdgeWeights
from automl_nas.nn import concat_shuffle, relu_conv_bn_group, shuffle_split, split_dense, weighted_sum
from automl_nas.nn import PartialMixedOp
from automl_nas_space_nb201.encoding import EDGES, NUM_NODES, OPS

__all__ = ["fused_cell_forward"]

NONE, SKIP, CONV1, CONV3, POOL = (OPS.index(name) for name in
                                  ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
# Ops reading at most this many channels (partial channels: C / K_pc) run their 1x1 and 3x3
# convs as ONE 3x3 convolution (1x1 kernels zero-padded, exact): such tiny convolutions and
# batch norms cost per call, not per FLOP (DrNAS K_pc = 4: 25% faster steps). Wider ops keep two
# convolutions: a padded 1x1 costs 9x its FLOPs (C = 16: 18% slower steps if merged).
MERGE_CONVS_MAX_CHANNELS = 8
# For target node i, its incoming edges are the contiguous rows lo:hi of the weights (spec §1.2 order).
_IN_RANGE: dict[int, tuple[int, int]] = {
    i: (EDGES.index((i, 0)), EDGES.index((i, i - 1)) + 1) for i in range(1, NUM_NODES)
}
# For source node j, the (edge index, target node) pairs leaving it, in edge order.
_OUT_EDGES: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    tuple((e, i) for e, (i, j2) in enumerate(EDGES) if j2 == j) for j in range(NUM_NODES - 1)
)


def _plan(weights: EdgeWeights, k_pc: int) -> tuple[list[list[int]], frozenset[int]]:
    """Per edge, the ops that run, and the nodes that reach the cell output (host side, once per forward).

    A node none of whose outgoing edges runs an op into a live node is *dead*: the plain path
    computes it but it never reaches the loss, so its ops get no gradient (``grad is None``).
    The fast path keeps that: dead work never joins a grouped convolution of live work. With
    partial channels (``k_pc > 1``) every edge carries the bypass channels, so every node is live.
    """
    cache = weights._cache
    key = ("fused_plan", k_pc)
    if key not in cache:
        active, mask = weights.active_list(), weights.mask_list()
        if active is not None:
            ops = [[] if op == NONE else [op] for op in active]
        else:
            ops = [[op for op in range(len(OPS)) if op != NONE and (mask is None or mask[e][op])]
                   for e in range(len(EDGES))]
        live = {NUM_NODES - 1}
        for j in range(NUM_NODES - 2, -1, -1):
            if any((ops[e] or k_pc > 1) and i in live for e, i in _OUT_EDGES[j]):
                live.add(j)
        cache[key] = (ops, frozenset(live))
    return cache[key]


@functools.lru_cache(maxsize=4096)
def _flat_index(keys: tuple[tuple[int, int], ...], num_ops: int, device: torch.device) -> torch.Tensor:
    """Positions of ``(edge, op)`` keys in the flattened (E, K) weights (cached: a GPU run
    copies each index to the device once instead of syncing every forward)."""
    return torch.tensor([e * num_ops + k for e, k in keys], device=device)


def _gather(weights: EdgeWeights, keys: list[tuple[int, int]]) -> torch.Tensor:
    w = weights.weights
    return w.reshape(-1).index_select(0, _flat_index(tuple(keys), w.shape[1], w.device))


def _term_weights(weights: EdgeWeights, ops: list[list[int]]) -> dict[tuple[int, int], torch.Tensor]:
    """``(edge, op) -> 0-dim weight``: one gather + unbind per forward, shared by every cell."""
    cache = weights._cache
    if "fused_w" not in cache:
        keys = [(e, k) for e, ks in enumerate(ops) for k in ks]
        cache["fused_w"] = dict(zip(keys, _gather(weights, keys).unbind())) if keys else {}
    return cache["fused_w"]


def _group_scale(weights: EdgeWeights, keys: list[tuple[int, int]], channels: int) -> torch.Tensor:
    """The weights of ``(edge, op)`` keys, each repeated ``channels`` times (a BN scale vector)."""
    cache = weights._cache
    key = ("fused_scale", tuple(keys), channels)
    if key not in cache:
        cache[key] = _gather(weights, keys).repeat_interleave(channels)
    return cache[key]


def _inactive_bias(weights: EdgeWeights) -> dict[int, torch.Tensor]:
    """GDAS NB201 form: per target node, the sum of the unselected ops' (zero-valued) weights."""
    cache = weights._cache
    if "fused_bias" not in cache:
        w = weights.weights
        keep = torch.ones_like(w).scatter_(-1, weights.active.view(-1, 1), 0.0)
        per_edge = (w * keep).sum(-1)  # exactly 0 in value, d/dw = 1 for the unselected ops
        cache["fused_bias"] = {i: per_edge[lo:hi].sum() for i, (lo, hi) in _IN_RANGE.items()}
    return cache["fused_bias"]


def _mixed(edge: nn.Module) -> tuple[nn.ModuleList, int]:
    if isinstance(edge, PartialMixedOp):
        return edge.mixed.ops, edge.k
    return edge.ops, 1


def _box_sum(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``avg_pool_3x3`` (count_include_pad=False) as ``(box, 1 / count)``: the pool is their product.

    The 3x3 box sum is a depthwise convolution (measured faster than ``avg_pool2d`` on
    channels-last CPU tensors, most of all for the narrow inputs of partial channels); the
    caller multiplies by the ``1 / count`` map (smaller at the borders) once per source node.
    Same function to float rounding. A pool module of another configuration runs as is
    (``(module(x), None)``).
    """
    if not (isinstance(module, nn.AvgPool2d) and _pool_args(module) == (3, 1, 1, False, False, None)):
        return module(x), None
    c, h, w = x.shape[1:]
    # Fewer than 16 channels per channels-last pixel: a full (1, C, H, W) 1/count map (below).
    full_map = c < 16 and x.stride(1) == 1 and not x.is_contiguous()
    ones, inv_count = _box_kernel(c, h, w, x.dtype, x.device, full_map)
    return F.conv2d(x, ones, padding=1, groups=c), inv_count


def _pool_args(m: nn.AvgPool2d) -> tuple:
    size = lambda v: v if isinstance(v, int) else (v[0] if len(set(v)) == 1 else v)  # noqa: E731
    return (size(m.kernel_size), size(m.stride), size(m.padding), m.count_include_pad, m.ceil_mode, m.divisor_override)


@functools.lru_cache(maxsize=64)
def _box_kernel(c: int, h: int, w: int, dtype: torch.dtype, device: torch.device,
                full_map: bool) -> tuple[torch.Tensor, torch.Tensor]:
    ones = torch.ones(c, 1, 3, 3, dtype=dtype, device=device)
    count = F.conv2d(torch.ones(1, 1, h, w, dtype=dtype, device=device), torch.ones(1, 1, 3, 3, dtype=dtype, device=device), padding=1)
    if full_map:
        # A (1, C, H, W) channels-last map: broadcasting a (1, 1, H, W) one over fewer than 16
        # channels per pixel runs ATen's scalar loop, 5x slower at 4 channels (issue 15); from
        # 16 channels on, the broadcast measured 10-20% faster than the full map.
        return ones, (1.0 / count).expand(1, c, h, w).contiguous(memory_format=torch.channels_last)
    return ones, 1.0 / count


def _source_terms(edges: nn.ModuleList, x: torch.Tensor, out_edges, ops, weights: EdgeWeights) -> dict[int, list]:
    """The weighted op outputs that source node ``x`` sends to each of its target nodes."""
    w = _term_weights(weights, ops)
    outputs = _conv_outputs(edges, x, out_edges, ops, weights)
    pool = None  # computed once for all edges
    terms: dict[int, list] = {}
    for e, i in out_edges:
        for k in ops[e]:
            if k == SKIP:
                term = (x, w[(e, k)])
            elif k == POOL:
                if pool is None:
                    box, inv_count = _box_sum(_mixed(edges[e])[0][POOL], x)
                    # One pass here, and every edge's term keeps a 0-dim weight: a (1, 1, H, W)
                    # weight map broadcast over a channels-last tensor runs ATen's scalar loops
                    # (3-4x slower per term), and its gradient is a reduction (issue 15).
                    # In place: the box sum is a fresh conv output no backward saves (DrNAS step -1.5%).
                    pool = box if inv_count is None else box.mul_(inv_count)
                term = (pool, w[(e, k)])
            else:  # a conv output, already weighted through BN's scale
                if outputs[(e, k)] is None:  # summed into the edge's other conv term
                    continue
                term = (outputs[(e, k)], None)
            terms.setdefault(i, []).append(term)
    return terms


def _conv_outputs(edges: nn.ModuleList, x: torch.Tensor, out_edges, ops,
                  weights: EdgeWeights) -> dict[tuple[int, int], torch.Tensor | None]:
    """``(edge, op) -> weighted conv output`` for the convs reading source node ``x``.

    When every edge that runs a 1x1 conv also runs a 3x3 conv (soft weights), each edge's two
    outputs are summed here, over all edges at once: one dense add instead of two adds of
    channel slices per edge (slices of a channels-last tensor run ATen's slower strided
    loops), and one concatenation fewer in the backward (issue 15). The 3x3 entry is then None.
    """
    convs = [[(e, k) for e, _ in out_edges if k in ops[e]] for k in (CONV1, CONV3)]
    merged = x.shape[1] <= MERGE_CONVS_MAX_CHANNELS  # one 3x3 conv for both kinds
    groups = [convs[0] + convs[1]] if merged else convs
    if not any(groups):
        return {}
    relu = torch.relu(x)
    paired = bool(convs[0]) and [e for e, _ in convs[0]] == [e for e, _ in convs[1]]
    ys = []
    for keys in groups:
        if keys:
            blocks = [_mixed(edges[e])[0][k] for e, k in keys]
            scale = _group_scale(weights, keys, blocks[0][2].num_features)
            ys.append(relu_conv_bn_group(x, blocks, relu=relu, scale=scale, split=not paired))
    if not paired:
        return dict(zip([key for keys in groups for key in keys], [y for pieces in ys for y in pieces]))
    if merged:
        ys = ys[0].split(ys[0].shape[1] // 2, dim=1)  # the 1x1 half, the 3x3 half (split: one cat backward)
        pair_sum = ys[0] + ys[1]
    else:
        # The 1x1 group's BN output is fresh and saved by no backward: sum into it. One buffer
        # fewer of E x C channels per source node (measured: DrNAS step -2.4%, allocation churn).
        pair_sum = ys[0].add_(ys[1])
    pieces = pair_sum.split(pair_sum.shape[1] // len(convs[0]), dim=1)
    return {**dict(zip(convs[0], pieces)), **{key: None for key in convs[1]}}


def _tracks_stats(edges: nn.ModuleList) -> bool:
    """Whether running the cell's convs updates BN running statistics (training, tracked)."""
    bn = _mixed(edges[0])[0][CONV3][2]
    return bn.training and bn.running_mean is not None


def fused_cell_forward(edges: nn.ModuleList, x: torch.Tensor, weights: EdgeWeights) -> torch.Tensor:
    """The output (node 3) of a search cell whose edge ``e`` is ``edges[e]`` (MixedOp or PartialMixedOp)."""
    k_pc = _mixed(edges[0])[1]
    ops, live = _plan(weights, k_pc)
    bias = _inactive_bias(weights) if weights.active is not None and weights.add_inactive else None
    # Dead work only matters for its BN running statistics: then it runs without a graph.
    dead_work = _tracks_stats(edges)
    part = x.shape[1] // k_pc
    # Per node: the channels the ops read and (k_pc > 1) the bypass channels, as dense tensors
    # (split_dense, shuffle_split: channel slices of a channels-last node are dense in no layout).
    heads: list[torch.Tensor | None] = []
    bypass: torch.Tensor | None = None
    pending: dict[int, list] = {i: [] for i in range(1, NUM_NODES)}
    node: torch.Tensor | tuple | None = x
    for j in range(NUM_NODES - 1):
        if isinstance(node, tuple):  # an inner partial-channel node, already split
            head, rest = node
        else:
            head, rest = (node, None) if node is None or k_pc == 1 else split_dense(node, part)
        heads.append(head)
        if head is not None:
            for is_live in (True, False):
                out_edges = [(e, i) for e, i in _OUT_EDGES[j] if (i in live) == is_live]
                if out_edges and (is_live or dead_work):
                    with torch.set_grad_enabled(is_live and torch.is_grad_enabled()):
                        for i, terms in _source_terms(edges, head, out_edges, ops, weights).items():
                            pending[i].extend(terms)
        # Node j + 1 has received every input (its sources are 0..j).
        i = j + 1
        if i not in live and not dead_work:
            node = None
            continue
        if rest is not None:
            # Node i's bypass is the sum over all its inputs j < i (with k_pc > 1 every node is
            # live): a running sum, added in the plain path's edge order (issue 15).
            bypass = rest if j == 0 else bypass + rest
        with torch.set_grad_enabled(i in live and torch.is_grad_enabled()):
            node = _node(pending.pop(i), heads[0], bypass if k_pc > 1 else None,
                         bias[i] if bias is not None else None, k_pc, last=i == NUM_NODES - 1)
    return node


def _node(terms: list, like: torch.Tensor, bypass: torch.Tensor | None, bias: torch.Tensor | None, k_pc: int, *,
          last: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Node value: the weighted op outputs (+ GDAS' zero scalars); with partial channels, the
    summed bypass channels of its inputs are shuffled back in. An inner partial-channel node
    is returned split, as ``(head, rest)`` for its outgoing edges."""
    out = weighted_sum(terms, like)
    if bias is not None:
        out = out + bias
    if k_pc > 1:
        out = concat_shuffle(out, bypass, k_pc) if last else shuffle_split(out, bypass, k_pc)
    return out
