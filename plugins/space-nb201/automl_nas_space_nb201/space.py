"""The NAS-Bench-201 search space (Dong & Yang, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR 2020, arXiv:2001.00326).

Official code followed: AutoDL-Projects (``xautodl/models/cell_searchs/*``,
``xautodl/models/cell_infers/*``, ``xautodl/models/cell_operations.py``) and DrNAS
(``201-space/*``); the exact specification is algorithms.md §1.

One architecture group ``"cell"`` of shape (6 edges, 5 ops) is shared by all 3N search cells.
Derivation: argmax per edge over all five ops including ``none``; ties go to the lowest op
index (spec §1.5). Genotype text is the canonical NB201 string (see :mod:`.encoding`).
Costs follow the conventions documented in :mod:`.costs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import torch

from automl_nas.api.arch import Genotype
from automl_nas.api.space import GroupSpec, InputSpec, Morphism, OpPosition, SearchSpace, check_halvings
from automl_nas_space_nb201 import costs, encoding
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.morphism import apply_to_ops, cell_morphisms, morph_nb201_network
from automl_nas_space_nb201.network import Nb201Network, Nb201Supernet
from automl_nas_space_nb201.ops import build_op

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Nb201Space"]

SPACE_NAME = "nb201"
GROUP = "cell"


class Nb201Space(SearchSpace):
    """NAS-Bench-201 cell space; built by the registry as ``Nb201Space(Nb201Config(...))``.

    Example:
        >>> space = Nb201Space(Nb201Config(channels=4, cells_per_stage=1))
        >>> space.decode(0).text
        '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
    """

    name = SPACE_NAME

    def __init__(self, config: Nb201Config | None = None) -> None:
        self.config = config if config is not None else Nb201Config()

    # ---- groups, networks, derivation ----

    def groups(self) -> list[GroupSpec]:
        return [GroupSpec(name=GROUP, ops=encoding.OPS, edges=encoding.EDGE_LABELS,
                          cells=3 * self.config.cells_per_stage, zero_ops=("none",),
                          param_free_ops=("skip_connect", "avg_pool_3x3"), skip_ops=("skip_connect",))]

    def build_supernet(self, inputs: InputSpec) -> nn.Module:
        check_halvings(inputs, 2, network="NAS-Bench-201")  # two residual blocks between the three stages
        cfg = self.config
        return Nb201Supernet(cfg.channels, cfg.cells_per_stage, inputs, affine=cfg.affine,
                             track_running_stats=cfg.track_running_stats, partial_channels=cfg.partial_channels)

    def derive(self, params: dict[str, torch.Tensor]) -> Genotype:
        if GROUP not in params:
            raise ValueError(f"nb201 derive needs the {GROUP!r} parameter group, got groups {sorted(params)}")
        alpha = params[GROUP]
        shape = (encoding.NUM_EDGES, len(encoding.OPS))
        if tuple(alpha.shape) != shape:
            raise ValueError(f"nb201 {GROUP!r} parameters must have shape {shape}, got {tuple(alpha.shape)}")
        # torch.argmax returns the first maximal index, so ties go to the lowest op (spec §1.5).
        return self.from_ops(tuple(int(k) for k in torch.argmax(alpha.detach(), dim=-1).tolist()))

    def build_network(self, genotype: Genotype, inputs: InputSpec) -> nn.Module:
        check_halvings(inputs, 2, network="NAS-Bench-201")
        return Nb201Network(self.to_ops(genotype), self.config.channels, self.config.cells_per_stage, inputs)

    # ---- encoding ----

    def parse(self, text: str) -> Genotype:
        return self.from_ops(encoding.parse_ops(text))

    def size(self) -> int:
        return encoding.NUM_ARCHS

    def encode(self, genotype: Genotype) -> int:
        return encoding.ops_to_id(self.to_ops(genotype))

    def decode(self, index: int) -> Genotype:
        return self.from_ops(encoding.id_to_ops(index))

    def to_ops(self, genotype: Genotype) -> tuple[int, ...]:
        if getattr(genotype, "space", SPACE_NAME) != SPACE_NAME:
            raise ValueError(f"genotype of space {genotype.space!r} given to the {SPACE_NAME!r} space")
        return encoding.parse_ops(str(genotype))

    def from_ops(self, ops: tuple[int, ...]) -> Genotype:
        return Genotype(SPACE_NAME, encoding.format_ops(ops))

    # ---- network morphisms (issue 18; exact edits only, see morphism.py) ----

    def morphisms(self, genotype: Genotype) -> list[Morphism]:
        return cell_morphisms(self.to_ops(genotype))

    def apply_morphism(self, genotype: Genotype, morphism: Morphism) -> Genotype:
        return self.from_ops(apply_to_ops(self.to_ops(genotype), morphism))

    def morph_network(self, network: nn.Module, genotype: Genotype, morphism: Morphism, inputs: InputSpec) -> nn.Module:
        child = self.build_network(self.apply_morphism(genotype, morphism), inputs)
        return morph_nb201_network(network, child.to(next(network.parameters()).device), morphism)

    # ---- costs ----

    def op_costs(self, inputs: InputSpec) -> dict[str, dict[str, torch.Tensor]]:
        """``{"cell": {"params", "flops", "mac": tensor (3N, 6, 5)}}`` for the search cells.

        Conventions in :mod:`automl_nas_space_nb201.costs`; ``params`` counts BN affine
        parameters only when ``affine`` is set; with ``partial_channels = k`` each op has
        ``C / k`` channels.
        """
        cfg = self.config
        rows = costs.op_cost_rows(cfg.channels, cfg.cells_per_stage, inputs.height, inputs.width,
                                  affine=cfg.affine, partial_channels=cfg.partial_channels)
        table = torch.tensor(rows, dtype=torch.float64)  # (cells, E, K, 3); exact integers
        dtype = torch.get_default_dtype()
        return {GROUP: {metric: table[..., i].to(dtype) for i, metric in enumerate(("params", "flops", "mac"))}}

    def genotype_costs(self, genotype: Genotype, inputs: InputSpec) -> dict[str, float]:
        """Exact params / flops (multiply-adds) of :meth:`build_network`'s network."""
        cfg = self.config
        cost = costs.genotype_cost(self.to_ops(genotype), cfg.channels, cfg.cells_per_stage,
                                   inputs.channels, inputs.height, inputs.width, inputs.num_classes)
        return {k: float(v) for k, v in cost.items()}

    def op_modules(self, inputs: InputSpec) -> Iterator[OpPosition]:
        """Every candidate op of the 3N search cells, built as in the supernet.

        All edges of the cells of one stage see the same ``(C / partial_channels, H, W)``
        input, so each stage shares one module per op.
        """
        cfg = self.config
        cell = 0
        for c, h, w in costs.stage_shapes(cfg.channels, inputs.height, inputs.width):
            width = c // cfg.partial_channels
            modules = {name: build_op(name, width, affine=cfg.affine, track_running_stats=cfg.track_running_stats)
                       for name in encoding.OPS}
            for _ in range(cfg.cells_per_stage):
                for edge in range(encoding.NUM_EDGES):
                    for name in encoding.OPS:
                        yield OpPosition(group=GROUP, cell=cell, edge=edge, op=name, module=modules[name],
                                         input_shape=(width, h, w))
                cell += 1

    def fingerprint(self) -> dict[str, object]:
        cfg = self.config
        return {"name": self.name, "channels": cfg.channels, "cells_per_stage": cfg.cells_per_stage,
                "affine": cfg.affine, "track_running_stats": cfg.track_running_stats,
                "partial_channels": cfg.partial_channels}
