"""Analytic cost model of NAS-Bench-201 ops and networks (pure Python, no torch).

Conventions (in the spirit of the SNAS cost table, spec §5.4):

* ``params``: weights of the op. Convs have no bias. BN affine parameters (2 per channel) are
  counted only when the BN is affine; running statistics are buffers, never counted. So
  ``genotype_costs`` params equal ``sum(p.numel() for p in net.parameters())`` exactly.
* ``flops``: multiply-adds. Conv: ``C_out * C_in / groups * k * k * H_out * W_out``; Linear:
  ``in * out`` (bias adds not counted). Pooling counts ``k * k`` adds per output element, i.e.
  ``avg_pool_3x3`` costs ``9 * C * H * W`` as in the SNAS table (the true count is lower at the
  borders because count_include_pad=False; the table's convention is kept so costs stay a
  simple product). BN, ReLU, node sums, the residual shortcut's 2x2 pool and the global pool
  are not counted (they are the same for every genotype).
* ``mac`` (memory access): elements read + written + parameters. Conv op:
  ``C*H*W (read) + C*H*W (write) + params``; ``skip_connect`` (copy) and ``avg_pool_3x3``:
  ``2*C*H*W``; ``none``: 0. (SNAS counts each conv layer the same way: ``2*C*y^2 + P``.)

Op costs are for the op instances as built: with ``partial_channels = k`` each op sees
``C / k`` channels, so its costs are those of a ``C / k``-channel op.
"""

from __future__ import annotations

from automl_nas_space_nb201.encoding import NUM_EDGES, OPS

__all__ = ["genotype_cost", "op_cost", "op_cost_rows", "skeleton_cost", "stage_shapes"]

_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def _half(side: int) -> int:
    # Output side of the stride-2 residual block (3x3 conv, pad 1); equals side // 2 for even sides.
    return (side - 1) // 2 + 1


def stage_shapes(channels: int, height: int, width: int) -> list[tuple[int, int, int]]:
    """``(C, H, W)`` of the feature maps of stages 1, 2, 3."""
    shapes, h, w = [], height, width
    for stage in range(3):
        shapes.append((channels * 2**stage, h, w))
        h, w = _half(h), _half(w)
    return shapes


def op_cost(name: str, c: int, h: int, w: int, *, affine: bool) -> tuple[int, int, int]:
    """``(params, flops, mac)`` of one in-cell op with ``c`` channels on an ``h x w`` map."""
    hw = h * w
    if name == "none":
        return 0, 0, 0
    if name == "skip_connect":
        return 0, 0, 2 * c * hw
    if name == "avg_pool_3x3":
        return 0, 9 * c * hw, 2 * c * hw
    if name in _CONV_KERNEL:
        k = _CONV_KERNEL[name]
        params = c * c * k * k + (2 * c if affine else 0)
        return params, c * c * k * k * hw, 2 * c * hw + params
    raise ValueError(f"unknown NB201 op {name!r}; allowed: {', '.join(OPS)}")


def op_cost_rows(channels: int, cells_per_stage: int, height: int, width: int, *, affine: bool,
                 partial_channels: int = 1) -> list[list[list[tuple[int, int, int]]]]:
    """``rows[cell][edge][op] = (params, flops, mac)`` for the 3N search cells in network order."""
    rows = []
    for c, h, w in stage_shapes(channels, height, width):
        per_op = [op_cost(name, c // partial_channels, h, w, affine=affine) for name in OPS]
        rows.extend([[list(per_op) for _ in range(NUM_EDGES)] for _ in range(cells_per_stage)])
    return rows


def _conv(c_in: int, c_out: int, k: int, h_out: int, w_out: int) -> tuple[int, int]:
    return c_in * c_out * k * k, c_in * c_out * k * k * h_out * w_out


def skeleton_cost(channels: int, in_channels: int, height: int, width: int, num_classes: int) -> tuple[int, int]:
    """``(params, flops)`` of everything but the cells: stem, 2 residual blocks, head."""
    shapes = stage_shapes(channels, height, width)
    p, f = _conv(in_channels, channels, 3, height, width)
    params, flops = p + 2 * channels, f  # stem conv + affine BN
    for (c_in, _, _), (c_out, h, w) in zip(shapes[:-1], shapes[1:]):
        for p, f in (_conv(c_in, c_out, 3, h, w), _conv(c_out, c_out, 3, h, w), _conv(c_in, c_out, 1, h, w)):
            params, flops = params + p, flops + f
        params += 2 * (2 * c_out)  # affine BNs of conv_a and conv_b
    c_last = shapes[-1][0]
    params += 2 * c_last + c_last * num_classes + num_classes  # lastact BN, Linear weight + bias
    flops += c_last * num_classes
    return params, flops


def genotype_cost(ops: tuple[int, ...], channels: int, cells_per_stage: int, in_channels: int,
                  height: int, width: int, num_classes: int) -> dict[str, int]:
    """Exact ``params`` / ``flops`` of the standalone network (all BNs affine)."""
    params, flops = skeleton_cost(channels, in_channels, height, width, num_classes)
    for c, h, w in stage_shapes(channels, height, width):
        for k in ops:
            p, f, _ = op_cost(OPS[k], c, h, w, affine=True)
            params, flops = params + cells_per_stage * p, flops + cells_per_stage * f
    return {"params": params, "flops": flops}
