"""The ``macro`` space: a chain of conv/pool layers with widths and skip connections (Auto-Keras'
CNN space, Jin et al., KDD 2019), searched by network morphism; also searchable one-shot over
its optional conv slots.

One-shot view (``groups``/``build_supernet``/``derive``): group ``layer``, one edge per optional
slot (``stages x slots``), ops ``skip_connect`` (no layer) or ``conv_3x3`` (a conv layer at the
stage width). A derived genotype is ``c<w0>, [c<w0>]*, p, c<w1>, ...``. Widths other than the
stage widths, residual layers and skips are reached only through morphisms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from automl_nas.api.arch import Genotype
from automl_nas.api.space import GroupSpec, InputSpec, Morphism, SearchSpace
from automl_nas_space_macro import genotype as mg
from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.network import MacroNetwork, MacroSupernet, morph

if TYPE_CHECKING:
    from torch import nn

__all__ = ["MacroSpace"]

OPS = ("skip_connect", "conv_3x3")


class MacroSpace(SearchSpace):
    """Example:
        >>> space = MacroSpace(MacroConfig(channels=8, stages=2, slots=1))
        >>> g = space.parse("macro:c8,p,c16")
        >>> [str(m) for m in space.morphisms(g)][:3]
        ['deepen(0)', 'deepen(2)', 'widen(0, 16)']
    """

    name = "macro"

    def __init__(self, config: MacroConfig | None = None) -> None:
        self.config = config or MacroConfig()

    # ---- one-shot view ----

    def groups(self) -> list[GroupSpec]:
        cfg = self.config
        edges = tuple(f"s{s}.{k}" for s in range(cfg.stages) for k in range(cfg.slots))
        return [GroupSpec(name="layer", ops=OPS, edges=edges, cells=1, param_free_ops=("skip_connect",),
                          skip_ops=("skip_connect",))] if edges else []

    def build_supernet(self, inputs: InputSpec) -> nn.Module:
        cfg = self.config
        _check_pools(inputs, cfg.stages - 1, key="space.stages")
        return MacroSupernet(cfg.channels, cfg.stages, cfg.slots, inputs.channels, inputs.num_classes)

    def derive(self, params: dict[str, torch.Tensor]) -> Genotype:
        cfg = self.config
        chosen = torch.argmax(params["layer"].detach(), dim=-1).tolist() if cfg.slots and cfg.stages else []
        layers: list[str] = []
        for s in range(cfg.stages):
            w = f"c{cfg.channels * 2 ** s}"
            layers += (["p"] if s else []) + [w] + [w for k in range(cfg.slots) if chosen[s * cfg.slots + k] == 1]
        return self._genotype(mg.MacroGenotype(tuple(layers)))

    def build_network(self, genotype: Genotype, inputs: InputSpec) -> nn.Module:
        macro = self.macro(genotype)
        _check_pools(inputs, macro.layers.count("p"), key="space.stages (or the genotype's pools)")
        return MacroNetwork(macro, inputs.channels, inputs.num_classes)

    # ---- encoding ----

    def parse(self, text: str) -> Genotype:
        return self._genotype(mg.parse_macro(text))

    def macro(self, genotype: Genotype | str) -> mg.MacroGenotype:
        if isinstance(genotype, Genotype):
            if genotype.space != self.name:
                raise ValueError(f"genotype of space {genotype.space!r} given to the {self.name!r} space")
            genotype = genotype.text
        return mg.parse_macro(genotype)

    # The encoding covers the one-shot view (which optional slots hold a conv layer), so the
    # table-free proposers (random, rea) search it; genotypes edited by morphisms are outside it.

    def size(self) -> int:
        """Distinct genotypes of the view: 0..slots conv layers per stage (the slots' order is immaterial)."""
        return (self.config.slots + 1) ** self.config.stages

    def to_ops(self, genotype: Genotype) -> tuple[int, ...]:
        """Canonical slot choices: a stage's conv layers fill its first slots."""
        return tuple(int(k < n) for n in self._counts(genotype) for k in range(self.config.slots))

    def from_ops(self, ops: tuple[int, ...]) -> Genotype:
        import torch.nn.functional as F

        if not ops:
            return self.derive({})
        return self.derive({"layer": F.one_hot(torch.tensor(ops), len(OPS)).float()})

    def encode(self, genotype: Genotype) -> int:
        index = 0
        for n in self._counts(genotype):
            index = index * (self.config.slots + 1) + n
        return index

    def decode(self, index: int) -> Genotype:
        cfg, counts = self.config, []
        for _ in range(cfg.stages):
            index, n = divmod(index, cfg.slots + 1)
            counts.insert(0, n)
        return self.from_ops(tuple(int(k < n) for n in counts for k in range(cfg.slots)))

    def _counts(self, genotype: Genotype) -> list[int]:
        g, cfg = self.macro(genotype), self.config
        stages = format_stages(g)
        if g.skips or len(stages) != cfg.stages or any(
                s[0] != f"c{cfg.channels * 2 ** i}" or len(s) > 1 + cfg.slots or any(t != s[0] for t in s)
                for i, s in enumerate(stages)):
            raise ValueError(f"{genotype.text} is not in the one-shot view of this space (stage convs + slots)")
        return [len(s) - 1 for s in stages]

    def _genotype(self, g: mg.MacroGenotype) -> Genotype:
        return Genotype(self.name, mg.format_macro(g))

    # ---- morphisms ----

    def morphisms(self, genotype: Genotype) -> list[Morphism]:
        return mg.morphisms(self.macro(genotype), max_width=self.config.max_width, max_layers=self.config.max_layers)

    def apply_morphism(self, genotype: Genotype, morphism: Morphism) -> Genotype:
        g = self.macro(genotype)
        if morphism not in mg.morphisms(g, max_width=self.config.max_width, max_layers=self.config.max_layers):
            raise ValueError(f"{morphism} is not a morphism of {genotype.text}")
        return self._genotype(mg.apply(g, morphism))

    def morph_network(self, network: nn.Module, genotype: Genotype, morphism: Morphism, inputs: InputSpec) -> nn.Module:
        child = self.build_network(self.apply_morphism(genotype, morphism), inputs)
        return morph(network, child.to(next(network.parameters()).device), morphism)

    def edit_distance(self, a: Genotype, b: Genotype) -> float:
        return mg.edit_distance(self.macro(a), self.macro(b))

    def fingerprint(self) -> dict[str, object]:
        cfg = self.config
        return {"name": self.name, "channels": cfg.channels, "stages": cfg.stages, "slots": cfg.slots,
                "max_width": cfg.max_width, "max_layers": cfg.max_layers}


def _check_pools(inputs: InputSpec, pools: int, *, key: str) -> None:
    """Each 2x2 max pool halves the image (rounding down): one that meets a 1-pixel side was a
    torch error from the first forward, after the run or search had started."""
    from automl_nas.errors import DataError

    side = min(inputs.height, inputs.width)
    if side >> pools < 1:
        deepest = max(side.bit_length() - 1, 0)
        raise DataError(f"images of {inputs.height}x{inputs.width} are too small for the macro network's {pools} "
                        f"2x2 pools ({pools + 1} stages): the last stages would see less than one pixel",
                        hint=f"lower {key} to at most {deepest + 1} for this image size, or use larger images "
                             f"(data.size where the data set has it)")


def format_stages(g: mg.MacroGenotype) -> list[list[str]]:
    """The layers split at the pools."""
    stages: list[list[str]] = [[]]
    for t in g.layers:
        if t == "p":
            stages.append([])
        else:
            stages[-1].append(t)
    return stages
