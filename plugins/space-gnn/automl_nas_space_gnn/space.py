"""The NAS-Bench-Graph GNN macro space (Qin et al., "NAS-Bench-Graph: Benchmarking Graph
Neural Architecture Search", NeurIPS 2022 Datasets and Benchmarks, arXiv:2206.09166).

Official code followed: THUMNLab/NAS-Bench-Graph (``architecture.py`` for the space and
its hashing, the benchmark's PyG model for the layers; see :mod:`.encoding`, :mod:`.ops`,
:mod:`.network`). Deviation: the benchmark's model takes 0 or 1 linear pre-processing and
post-processing layers as hyper-parameters; here there is always one pre-processing layer
(so every op, skip included, maps one width to itself) and no post-processing layer.

Two architecture groups: ``"layers"`` (4 layers x ops) and ``"link"`` (1 choice x the 9
link patterns). Derivation: argmax per row; ties go to the lowest index. Flat op view
for proposers: ``(op_1, op_2, op_3, op_4, link)``; every combination is an architecture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from automl_nas.api import GraphBatch
from automl_nas.api.arch import Genotype
from automl_nas.api.space import GroupSpec, InputSpec, SearchSpace
from automl_nas_space_gnn import encoding
from automl_nas_space_gnn.config import GnnConfig
from automl_nas_space_gnn.network import LAYERS, LINK, GnnNetwork, GnnSupernet

if TYPE_CHECKING:
    from torch import nn

__all__ = ["GnnSpace"]

SPACE_NAME = "gnn"


class GnnSpace(SearchSpace):
    """NAS-Bench-Graph macro space; built by the registry as ``GnnSpace(GnnConfig(...))``.

    Example:
        >>> space = GnnSpace(GnnConfig())
        >>> space.decode(0).text
        'link=[0,0,0,0] ops=[gat,gat,gat,gat]'
        >>> space.benchmark_hash(space.parse('link=[0,1,2,3] ops=[gcn,gcn,skip,fc]'))
        88117
    """

    name = SPACE_NAME

    def __init__(self, config: GnnConfig | None = None) -> None:
        self.config = config if config is not None else GnnConfig()
        self.ops = self.config.op_names

    # ---- groups, networks, derivation ----

    def groups(self) -> list[GroupSpec]:
        # Op traits for the collapse diagnostics: "skip" is the identity and the only op without
        # parameters; the link group chooses a wiring, not ops, and declares none.
        free = tuple(op for op in self.ops if op == "skip")
        return [GroupSpec(name=LAYERS, ops=self.ops, edges=tuple(f"layer{i + 1}" for i in range(encoding.NUM_LAYERS)),
                          param_free_ops=free, skip_ops=free),
                GroupSpec(name=LINK, ops=tuple(encoding.link_label(lk) for lk in encoding.LINKS), edges=("link",))]

    def build_supernet(self, inputs: InputSpec) -> nn.Module:
        cfg = self.config
        return GnnSupernet(inputs.channels, inputs.num_classes, hidden=cfg.hidden, dropout=cfg.dropout, ops=self.ops)

    def derive(self, params: dict[str, torch.Tensor]) -> Genotype:
        shapes = {g.name: g.shape for g in self.groups()}
        for name, shape in shapes.items():
            if name not in params or tuple(params[name].shape) != shape:
                got = {k: tuple(v.shape) for k, v in params.items()}
                raise ValueError(f"gnn derive needs groups {shapes}, got {got}")
        # torch.argmax returns the first maximal index: ties go to the lowest index.
        ops = tuple(int(k) for k in torch.argmax(params[LAYERS].detach(), dim=-1).tolist())
        return self.from_ops(ops + (int(torch.argmax(params[LINK].detach()[0])),))

    def build_network(self, genotype: Genotype, inputs: InputSpec) -> nn.Module:
        link, ops = self.arch(genotype)
        cfg = self.config
        return GnnNetwork(link, ops, inputs.channels, inputs.num_classes, hidden=cfg.hidden, dropout=cfg.dropout)

    def example_input(self, inputs: InputSpec, n: int, generator: torch.Generator | None = None) -> GraphBatch:
        """A random graph of ``max(n, 8)`` nodes (a ring plus random chords); ``index`` = its first ``n`` nodes."""
        nodes = max(n, 8)
        ring = torch.arange(nodes)
        chords = torch.randint(0, nodes, (2, nodes), generator=generator)
        src = torch.cat([ring, (ring + 1) % nodes, chords[0], chords[1]])
        dst = torch.cat([(ring + 1) % nodes, ring, chords[1], chords[0]])
        x = torch.randn(nodes, inputs.channels, generator=generator)
        return GraphBatch(x=x, edge_index=torch.stack([src, dst]), index=torch.arange(n))

    # ---- encoding ----

    def arch(self, genotype: Genotype) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """``(link, ops)`` of a genotype of this space."""
        if getattr(genotype, "space", SPACE_NAME) != SPACE_NAME:
            raise ValueError(f"genotype of space {genotype.space!r} given to the {SPACE_NAME!r} space")
        return encoding.parse_arch(str(genotype), self.ops)

    def benchmark_hash(self, genotype: Genotype) -> int:
        """The genotype's key in the NAS-Bench-Graph tables (``Arch(link, ops).valid_hash()``)."""
        return encoding.benchmark_hash(*self.arch(genotype))

    def parse(self, text: str) -> Genotype:
        return Genotype(SPACE_NAME, encoding.format_arch(*encoding.parse_arch(text, self.ops)))

    def size(self) -> int:
        return len(self.ops) ** encoding.NUM_LAYERS * len(encoding.LINKS)

    def encode(self, genotype: Genotype) -> int:
        *ops, link = self.to_ops(genotype)
        index = link
        for op in ops:
            index = index * len(self.ops) + op
        return index

    def decode(self, index: int) -> Genotype:
        if not 0 <= index < self.size():
            raise IndexError(f"gnn architecture index {index} outside 0..{self.size() - 1}")
        ops = []
        for _ in range(encoding.NUM_LAYERS):
            index, op = divmod(index, len(self.ops))
            ops.append(op)
        return self.from_ops(tuple(reversed(ops)) + (index,))

    def to_ops(self, genotype: Genotype) -> tuple[int, ...]:
        link, ops = self.arch(genotype)
        return tuple(self.ops.index(op) for op in ops) + (encoding.LINKS.index(link),)

    def from_ops(self, ops: tuple[int, ...]) -> Genotype:
        if len(ops) != encoding.NUM_LAYERS + 1:
            raise ValueError(f"gnn op tuple needs {encoding.NUM_LAYERS} op indices and a link index, got {ops}")
        *layer_ops, link = ops
        return Genotype(SPACE_NAME, encoding.format_arch(encoding.LINKS[link], tuple(self.ops[k] for k in layer_ops)))

    def genotype_choices(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        *ops, link = self.to_ops(genotype)
        dtype = torch.get_default_dtype()
        return {LAYERS: torch.nn.functional.one_hot(torch.tensor(ops), len(self.ops)).to(dtype),
                LINK: torch.nn.functional.one_hot(torch.tensor([link]), len(encoding.LINKS)).to(dtype)}

    # ---- costs ----

    def op_costs(self, inputs: InputSpec) -> dict[str, dict[str, torch.Tensor]]:
        """``{"layers": {"params": (1, 4, K)}, "link": {"params": (1, 1, 9)}}``: the trainable
        parameters of each op at ``hidden`` width, and of each link pattern's classifier."""
        from automl_nas_space_gnn.ops import build_op

        hidden, dtype = self.config.hidden, torch.get_default_dtype()
        per_op = [_count(build_op(op, hidden)) for op in self.ops]
        heads = [(len(encoding.leaves(lk)) * hidden + 1) * inputs.num_classes for lk in encoding.LINKS]
        return {LAYERS: {"params": torch.tensor([per_op] * encoding.NUM_LAYERS, dtype=dtype).unsqueeze(0)},
                LINK: {"params": torch.tensor([heads], dtype=dtype).unsqueeze(0)}}

    def genotype_costs(self, genotype: Genotype, inputs: InputSpec) -> dict[str, float]:
        """Exact trainable parameters of :meth:`build_network`'s network."""
        return {"params": float(_count(self.build_network(genotype, inputs)))}

    def fingerprint(self) -> dict[str, Any]:
        cfg = self.config
        return {"name": self.name, "ops": cfg.ops, "hidden": cfg.hidden, "dropout": cfg.dropout}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
