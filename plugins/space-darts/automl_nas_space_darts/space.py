"""``DartsSpace``: the DARTS cell space behind the :class:`automl_nas.api.SearchSpace` interface.

Paper: Liu, Simonyan, Yang, "DARTS: Differentiable Architecture Search", arXiv:1806.09055; code
followed: SNAS-Series ``Analysis/darts/cnn`` and ``SNAS/`` (edge_all, costs), DrNAS ``DARTS-space``
(K = 7, pooling BN), AutoDL-Projects (GDAS fixed reduction cell, NASNet layout). Spec: §2, §5.4.
Deviations: see the module docstrings of ``cells``, ``network``, ``costs`` and ``genotype``.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

from automl_nas.api.arch import Genotype
from automl_nas.api.space import GroupSpec, InputSpec, OpPosition, SearchSpace, check_halvings

from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.costs import network_macs, network_params, supernet_op_costs
from automl_nas_space_darts.genotype import (
    DartsGenotype,
    derive_edge_all,
    derive_top2,
    derive_top2_joint,
    edge_labels,
    format_genotype,
    parse_genotype,
)
from automl_nas_space_darts.network import DartsNetwork, DartsSupernet, cell_plan
from automl_nas_space_darts.ops import make_op

__all__ = ["DartsSpace"]


# Op traits (the engine's collapse diagnostics read them from GroupSpec).
_ZERO_OPS = ("none",)
_PARAM_FREE_OPS = ("skip_connect", "max_pool_3x3", "avg_pool_3x3")
_SKIP_OPS = ("skip_connect",)


class DartsSpace(SearchSpace):
    """The DARTS (NASNet-like) cell space: groups ``normal`` and ``reduce``, 14 edges x K ops.

    Example:
        >>> space = DartsSpace(DartsConfig(channels=4, layers=3))
        >>> [g.shape for g in space.groups()]
        [(14, 8), (14, 8)]
    """

    name = "darts"

    def __init__(self, config: DartsConfig | None = None) -> None:
        self.config = config or DartsConfig()
        self.ops = self.config.op_names

    # ---- structure ----

    def groups(self) -> list[GroupSpec]:
        plan = cell_plan(self.config.layers, self.config.channels)
        n_reduce = sum(red for _, red in plan)
        edges = edge_labels(self.config.steps)
        traits = dict(zero_ops=_ZERO_OPS, param_free_ops=_PARAM_FREE_OPS, skip_ops=_SKIP_OPS)
        groups = [GroupSpec(name="normal", ops=self.ops, edges=edges, cells=len(plan) - n_reduce, **traits)]
        if self.config.reduction == "searched":
            groups.append(GroupSpec(name="reduce", ops=self.ops, edges=edges, cells=n_reduce, **traits))
        return groups

    def build_supernet(self, inputs: InputSpec) -> DartsSupernet:
        cfg = self.config
        check_halvings(inputs, sum(red for _, red in cell_plan(cfg.layers, cfg.channels)), network="DARTS search")
        net = DartsSupernet(
            channels=cfg.channels, num_classes=inputs.num_classes, layers=cfg.layers, steps=cfg.steps,
            multiplier=cfg.multiplier, stem_multiplier=cfg.stem_multiplier, ops=self.ops, affine=cfg.affine,
            track=cfg.track_running_stats, partial_channels=cfg.partial_channels, reduction=cfg.reduction,
            layout=cfg.layout, in_channels=inputs.channels, pool_bn=cfg.search_pool_bn,
        )
        net.drop_path = cfg.drop_path
        net.checkpointing = cfg.checkpointing
        return net

    # ---- genotypes ----

    def derive(self, params: dict[str, torch.Tensor]) -> Genotype:
        """Genotype of ``params`` by the configured rule on P = softmax(params) (spec §2.5)."""
        rule = {"top2": derive_top2, "edge_all": derive_edge_all, "top2_joint": derive_top2_joint}[self.config.derivation]
        steps = self.config.steps
        cells = {}
        for group in ("normal", "reduce"):
            if group not in params:
                continue
            probs = torch.softmax(params[group].detach().to(torch.float64), dim=-1).tolist()
            cells[group] = rule(probs, self.ops, steps)
        concat = tuple(range(2 + steps - self.config.multiplier, steps + 2))
        g = DartsGenotype(
            normal=cells["normal"], normal_concat=concat,
            reduce=cells.get("reduce", ()), reduce_concat=concat if "reduce" in cells else (),
        )
        return Genotype(self.name, format_genotype(g))

    def parse(self, text: str) -> Genotype:
        return Genotype(self.name, format_genotype(self.parse_darts(text)))

    def parse_darts(self, text: str | Genotype) -> DartsGenotype:
        """The structured genotype of ``text`` (or of a :class:`Genotype` of this space)."""
        if isinstance(text, Genotype):
            if text.space != self.name:
                raise ValueError(f"genotype of space {text.space!r} given to the {self.name!r} space")
            text = text.text
        # Parse against all 8 DARTS ops: published cells may name `none` even for K = 7 searches.
        return parse_genotype(text, steps=self.config.steps)

    # ---- standalone networks ----

    def build_network(self, genotype: Genotype, inputs: InputSpec) -> DartsNetwork:
        cfg = self.config
        check_halvings(inputs, sum(red for _, red in cell_plan(cfg.eval_layers, cfg.eval_channels)), network="DARTS")
        return DartsNetwork(
            self.parse_darts(genotype), channels=cfg.eval_channels, num_classes=inputs.num_classes,
            layers=cfg.eval_layers, auxiliary=cfg.auxiliary, stem_multiplier=cfg.stem_multiplier,
            steps=cfg.steps, pool_bn=cfg.pool_bn, in_channels=inputs.channels, input_size=(inputs.height, inputs.width),
            drop_path_max=cfg.eval_drop_path,
        )

    # ---- costs ----

    def op_costs(self, inputs: InputSpec) -> dict[str, dict[str, torch.Tensor]]:
        """SNAS' per-op costs (spec §5.4) at every position of the supernet."""
        cfg = self.config
        return supernet_op_costs(ops=self.ops, channels=cfg.channels, layers=cfg.layers, steps=cfg.steps,
                                 side=(inputs.height, inputs.width), partial_channels=cfg.partial_channels,
                                 searched_reduction=cfg.reduction == "searched")

    def genotype_costs(self, genotype: Genotype, inputs: InputSpec) -> dict[str, float]:
        """``params`` and ``flops`` (multiply-adds, one image) of the evaluation network, aux head excluded."""
        cfg = self.config
        g = self.parse_darts(genotype)
        with torch.device("meta"):  # parameter shapes only, no memory
            net = self.build_network(genotype, inputs)
        macs = network_macs(g, channels=cfg.eval_channels, layers=cfg.eval_layers, num_classes=inputs.num_classes,
                            side=(inputs.height, inputs.width), in_channels=inputs.channels, stem_multiplier=cfg.stem_multiplier,
                            steps=cfg.steps)
        return {"params": float(network_params(net)), "flops": float(macs)}

    def genotype_choices(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        """``{group: (E, K)}`` counts of each op on each edge (two entries of a node may share an
        input, AutoDL-Projects style); ``none`` entries outside the op set cost nothing and are dropped."""
        g = self.parse_darts(genotype)
        out = {}
        for group in self.groups():
            counts = torch.zeros(group.shape)
            for i, pairs in enumerate(g.nodes(group.name, self.config.steps)):
                first_edge = sum(2 + t for t in range(i))  # edges of node i start after those of nodes < i
                for op, j in pairs:
                    if op in self.ops:
                        counts[first_edge + j, self.ops.index(op)] += 1
                    elif op != "none":
                        raise ValueError(f"genotype uses {op!r}, which is not among this space's ops {list(self.ops)}")
            out[group.name] = counts
        return out

    def op_modules(self, inputs: InputSpec) -> Iterator[OpPosition]:
        """Every candidate op of the supernet's searched cells, built as in ``SearchCell``.

        Edges from the two cell inputs of a reduction cell have stride 2 and see the
        previous side; all other edges see the cell's output side. Modules are shared
        between positions with the same op, channels, stride and input shape.
        """
        cfg = self.config
        searched = {g.name for g in self.groups()}
        h, w = inputs.height, inputs.width
        modules: dict[tuple, Any] = {}
        cells_seen = {"normal": 0, "reduce": 0}
        for c, red in cell_plan(cfg.layers, cfg.channels):
            group = "reduce" if red else "normal"
            out_h, out_w = ((h + 1) // 2, (w + 1) // 2) if red else (h, w)
            if group in searched:
                width = c // cfg.partial_channels
                edge = 0
                for i in range(cfg.steps):
                    for j in range(2 + i):
                        stride = 2 if red and j < 2 else 1
                        shape = (width, h, w) if stride == 2 else (width, out_h, out_w)
                        for op in self.ops:
                            key = (op, stride, shape)
                            if key not in modules:
                                # pool_bn=True: pools carry a non-affine BN in the supernet (spec §2.1).
                                modules[key] = make_op(op, width, stride, affine=cfg.affine,
                                                       track=cfg.track_running_stats, pool_bn=True)
                            yield OpPosition(group=group, cell=cells_seen[group], edge=edge, op=op,
                                             module=modules[key], input_shape=shape)
                        edge += 1
                cells_seen[group] += 1
            h, w = out_h, out_w

    def fingerprint(self) -> dict[str, Any]:
        import attrs

        return {"name": self.name, **attrs.asdict(self.config)}
