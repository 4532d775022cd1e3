"""Network morphisms of NAS-Bench-201 cells (issue 18): the edits that are exactly function-preserving.

A standalone NB201 network repeats one cell 3N times, so an edit of the cell edits every cell.
Offered (``exact = True``; the new network computes the parent's function at initialisation in
train and in eval mode, to float tolerance):

* ``conv(e, op)``: edge ``e`` from ``none`` to ``nor_conv_1x1`` or ``nor_conv_3x3``. The new
  ReLU-Conv-BN's BatchNorm has scale and shift 0, so the edge still adds exactly 0 (in train mode
  too: 0 * normalised + 0); the convolution keeps its default initialisation.
* ``grow(e)``: edge ``e`` from ``nor_conv_1x1`` to ``nor_conv_3x3``: the 1x1 kernel becomes the
  centre of a zero 3x3 kernel (padding 1 keeps every output position's sum the same), and the
  BatchNorm (scale, shift, running statistics) is copied.

Not offered, because no initialisation preserves the function exactly: ``none`` -> ``skip_connect``
or ``avg_pool_3x3`` (either adds a non-zero term with no parameter to zero it), ``skip_connect``
-> a convolution (ReLU-Conv-BN cannot be the identity: the ReLU drops negative inputs, and in
train mode the BatchNorm renormalises), ``avg_pool_3x3`` -> anything, and every edit that removes
an op (function-changing by definition).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from automl_nas.api.space import Morphism
from automl_nas_space_nb201.encoding import OPS

__all__ = ["cell_morphisms", "apply_to_ops", "morph_nb201_network"]

_NONE, _CONV1, _CONV3 = OPS.index("none"), OPS.index("nor_conv_1x1"), OPS.index("nor_conv_3x3")


def cell_morphisms(ops: tuple[int, ...]) -> list[Morphism]:
    out = []
    for e, k in enumerate(ops):
        if k == _NONE:
            out += [Morphism("conv", (e, "nor_conv_1x1")), Morphism("conv", (e, "nor_conv_3x3"))]
        elif k == _CONV1:
            out.append(Morphism("grow", (e,)))
    return out


def apply_to_ops(ops: tuple[int, ...], morphism: Morphism) -> tuple[int, ...]:
    if morphism not in cell_morphisms(ops):
        raise ValueError(f"{morphism} is not a morphism of cell {ops} (offered: {', '.join(map(str, cell_morphisms(ops)))})")
    e = morphism.args[0]
    new = OPS.index(morphism.args[1]) if morphism.kind == "conv" else _CONV3
    return ops[:e] + (new,) + ops[e + 1:]


@torch.no_grad()
def morph_nb201_network(parent: nn.Module, child: nn.Module, morphism: Morphism) -> nn.Module:
    """Copy ``parent``'s weights into ``child`` (a fresh network of the edited cell) and set the
    edited edges as described in the module docstring; returns ``child``."""
    e = morphism.args[0]
    own = child.state_dict()
    parent_state = parent.state_dict()
    marker = f".edges.{e}."
    for key, value in parent_state.items():
        if key in own and own[key].shape == value.shape and marker not in key:
            own[key] = value.clone()
    child.load_state_dict(own)
    for p_cell, c_cell in zip(_cells(parent), _cells(child)):
        new_edge = c_cell.edges[e]  # ReLU, Conv2d, BatchNorm2d
        if morphism.kind == "conv":
            new_edge[2].weight.zero_()
            new_edge[2].bias.zero_()
        else:
            old_edge = p_cell.edges[e]
            weight = torch.zeros_like(new_edge[1].weight)
            weight[:, :, 1, 1] = old_edge[1].weight[:, :, 0, 0]
            new_edge[1].weight.copy_(weight)
            new_edge[2].load_state_dict(copy.deepcopy(old_edge[2].state_dict()))
    child.train(parent.training)
    return child


def _cells(net: nn.Module) -> list[nn.Module]:
    return [block for block in net.cells if hasattr(block, "edges")]
