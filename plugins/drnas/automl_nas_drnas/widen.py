"""Net2Wider-style widening of partial-channel mixed ops, and the optimiser rebuild (spec §7.4).

Followed: DrNAS ``net2wider.py`` and the ``wider`` methods of its ops. Implemented
generically, without search-space code: inside each
:class:`~automl_nas.nn.mixed_op.PartialMixedOp`, every ``Conv2d``/``BatchNorm2d`` channel
dimension equal to ``c_old = C / k_old`` grows to ``c_new = C / k_new`` (and a dimension equal to
``c_old / 2`` — FactorizedReduce's two half convolutions — to ``c_new / 2``). New channels are
copies of randomly chosen old ones, with one index map per op (old indices first, then draws from
the run's generator); filters are not rescaled, so, as in DrNAS, the copy is not
function-preserving. Depthwise convolutions get ``groups = c_new``. BN running statistics and
affine parameters are copied through the same map. Momentum buffers of the rebuilt SGD are
expanded with the same maps; parameters that did not change keep theirs.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch
from torch import nn

from automl_nas.nn import PartialMixedOp

__all__ = ["partial_ops", "rebuild_sgd", "widen_partial_ops"]

# new parameter -> (old parameter, [(dim, index)]) : how the new tensor was gathered from the old
Remap = dict[nn.Parameter, tuple[nn.Parameter, list[tuple[int, torch.Tensor]]]]


def partial_ops(module: nn.Module) -> list[PartialMixedOp]:
    return [m for m in module.modules() if isinstance(m, PartialMixedOp)]


def _gather(t: torch.Tensor, dims: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    for dim, index in dims:
        t = t.index_select(dim, index.to(t.device))
    return t


def _op_width(pmo: PartialMixedOp) -> int | None:
    """c_old: the channel count the op's convs read and its BNs normalise (None: nothing to widen)."""
    sizes = set()
    for m in pmo.mixed.modules():
        if isinstance(m, nn.Conv2d):
            sizes.add(m.in_channels)
        elif isinstance(m, nn.BatchNorm2d):
            sizes.add(m.num_features)
    if len(sizes) > 1:
        raise ValueError(f"cannot widen a partial mixed op whose ops read different channel counts {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _index_map(c_old: int, c_new: int, generator: torch.Generator | None) -> torch.Tensor:
    extra = torch.randint(0, c_old, (c_new - c_old,), generator=generator)
    return torch.cat([torch.arange(c_old), extra])


class _OpWidener:
    """Widens the modules of one candidate op with that op's index maps."""

    def __init__(self, c_old: int, c_new: int, generator: torch.Generator | None, remap: Remap) -> None:
        self.c_old, self.c_new, self.remap = c_old, c_new, remap
        self.full = _index_map(c_old, c_new, generator)
        self.half = None
        if c_old % 2 == 0:
            if c_new % 2:
                self.half = "odd"  # only an error if a half-width conv is actually met
            else:
                self.half = _index_map(c_old // 2, c_new // 2, generator)

    def size(self, d: int) -> tuple[int, torch.Tensor | None]:
        if d == self.c_old:
            return self.c_new, self.full
        if self.half is not None and 2 * d == self.c_old:
            if isinstance(self.half, str):
                raise ValueError(f"cannot widen a half-width ({d}) convolution to an odd width {self.c_new} / 2")
            return self.c_new // 2, self.half
        return d, None

    def _param(self, new: nn.Parameter, old: nn.Parameter, dims: list[tuple[int, torch.Tensor]]) -> None:
        with torch.no_grad():
            new.copy_(_gather(old.detach(), dims))
        self.remap[new] = (old, dims)

    def conv(self, conv: nn.Conv2d) -> nn.Conv2d | None:
        out_new, m_out = self.size(conv.out_channels)
        in_new, m_in = self.size(conv.in_channels)
        if m_out is None and m_in is None:
            return None
        if conv.groups == 1:
            groups, dims = 1, [(0, m_out), (1, m_in)]
        elif conv.groups == conv.in_channels == conv.out_channels:  # depthwise: one filter per channel
            groups, dims = in_new, [(0, m_out)]
        else:
            raise ValueError(f"cannot widen a grouped convolution with groups={conv.groups}: {conv}")
        dims = [(d, i) for d, i in dims if i is not None]
        new = nn.Conv2d(in_new, out_new, conv.kernel_size, conv.stride, conv.padding, conv.dilation, groups,
                        bias=conv.bias is not None, padding_mode=conv.padding_mode)
        new = new.to(device=conv.weight.device, dtype=conv.weight.dtype)
        self._param(new.weight, conv.weight, dims)
        if conv.bias is not None:
            self._param(new.bias, conv.bias, [(0, m_out)] if m_out is not None else [])
        new.train(conv.training)
        return new

    def bn(self, bn: nn.BatchNorm2d) -> nn.BatchNorm2d | None:
        n_new, index = self.size(bn.num_features)
        if index is None:
            return None
        new = nn.BatchNorm2d(n_new, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                             track_running_stats=bn.track_running_stats)
        ref = next((t for t in (bn.weight, bn.running_mean) if t is not None), None)
        if ref is not None:
            new = new.to(device=ref.device, dtype=ref.dtype)
        if bn.affine:
            self._param(new.weight, bn.weight, [(0, index)])
            self._param(new.bias, bn.bias, [(0, index)])
        if bn.track_running_stats:
            with torch.no_grad():
                new.running_mean.copy_(_gather(bn.running_mean, [(0, index)]))
                new.running_var.copy_(_gather(bn.running_var, [(0, index)]))
                new.num_batches_tracked.copy_(bn.num_batches_tracked)
        new.train(bn.training)
        return new


def _widen_op(ops: nn.ModuleList, i: int, widener: _OpWidener) -> None:
    root = ops[i]
    for name, module in list(root.named_modules()):
        build: Callable | None = widener.conv if isinstance(module, nn.Conv2d) else (
            widener.bn if isinstance(module, nn.BatchNorm2d) else None)
        new = build(module) if build is not None else None
        if new is None:
            continue
        if not name:
            ops[i] = new
        else:
            parent, _, leaf = name.rpartition(".")
            setattr(root.get_submodule(parent) if parent else root, leaf, new)


def widen_partial_ops(supernet: nn.Module, k_new: int, generator: torch.Generator | None = None) -> tuple[int, Remap, str]:
    """Set every PartialMixedOp's ``k`` to ``k_new``, widening its ops' channels.

    Returns ``(number of ops changed, remap new param -> (old param, dims), summary text)``.
    """
    remap: Remap = {}
    changed, widths = 0, set()
    for pmo in partial_ops(supernet):
        if pmo.k == k_new:
            continue
        c_old = _op_width(pmo)
        if c_old is not None:
            total = c_old * pmo.k
            if total % k_new:
                raise ValueError(f"cannot split {total} channels into k = {k_new} parts (from k = {pmo.k})")
            c_new = total // k_new
            if c_new < c_old:
                raise ValueError(f"partial channels can only grow: k {pmo.k} -> {k_new} shrinks {c_old} -> {c_new}")
            for i in range(len(pmo.mixed.ops)):
                _widen_op(pmo.mixed.ops, i, _OpWidener(c_old, c_new, generator, remap))
            widths.add(f"{c_old}->{c_new}")
        pmo.k = k_new
        changed += 1
    return changed, remap, ", ".join(sorted(widths))


_SGD_ARGS = set(inspect.signature(torch.optim.SGD).parameters) - {"params"}


def rebuild_sgd(old: torch.optim.Optimizer, params, remap: Remap) -> torch.optim.SGD:
    """A new SGD over ``params`` with ``old``'s hyper-parameters and expanded momentum buffers."""
    hyper = {k: v for k, v in old.param_groups[0].items() if k in _SGD_ARGS}
    new = torch.optim.SGD(params, **hyper)
    for group in new.param_groups:
        for p in group["params"]:
            if p in old.state:  # untouched parameter: keep its state object
                new.state[p] = old.state[p]
            elif p in remap:
                source, dims = remap[p]
                buf = old.state.get(source, {}).get("momentum_buffer")
                if buf is not None:
                    new.state[p] = {"momentum_buffer": _gather(buf, dims).clone()}
    return new
