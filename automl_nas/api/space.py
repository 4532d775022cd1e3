"""The search-space interface: supernet, encoding, derivation, standalone networks, costs."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Iterator

import attrs

from automl_nas.api.arch import Genotype

if TYPE_CHECKING:
    import torch
    from torch import nn


@attrs.frozen(kw_only=True)
class GroupSpec:
    """One group of architecture parameters: ``edges`` x ``ops`` shared by ``cells`` cells."""

    name: str
    ops: tuple[str, ...]
    edges: tuple[str, ...]  # human labels, e.g. "1<-0"
    cells: int = 1

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.edges), len(self.ops))


@attrs.frozen(kw_only=True)
class InputSpec:
    """What the network sees: image shape and number of classes."""

    channels: int = 3
    height: int = 32
    width: int = 32
    num_classes: int = 10


class SearchSpace(abc.ABC):
    """A cell-based search space.

    Calling protocol (one-shot search):

    1. :meth:`groups` tells the sampler which ``(E, K)`` parameter matrices to create.
    2. :meth:`build_supernet` returns an ``nn.Module`` called as
       ``supernet(x, sample)`` where ``sample`` maps each group name to an
       :class:`~automl_nas.api.EdgeWeights`; it returns logits.
    3. Each epoch, :meth:`derive` turns the (sampler-transformed) parameters into
       a :class:`~automl_nas.api.Genotype`.
    4. Evaluators call :meth:`build_network` (retraining) or read the genotype text.

    ``op_costs`` reports per-op resource costs at their position in the network,
    used by resource-aware objectives and ``automl profile-ops``.
    """

    name: str = ""

    @abc.abstractmethod
    def groups(self) -> list[GroupSpec]:
        """The architecture-parameter groups, in a fixed order."""

    @abc.abstractmethod
    def build_supernet(self, inputs: InputSpec) -> nn.Module:
        """A fresh weight-sharing supernet; must not create architecture parameters."""

    @abc.abstractmethod
    def derive(self, params: dict[str, torch.Tensor]) -> Genotype:
        """The genotype for ``(E, K)`` parameter matrices (argmax-style; no sampling)."""

    @abc.abstractmethod
    def build_network(self, genotype: Genotype, inputs: InputSpec) -> nn.Module:
        """A standalone trainable network of the genotype; ``net(x)`` returns logits
        (or ``(logits, aux_logits)`` in training mode when it has an auxiliary head)."""

    # ---- encoding (finite spaces implement these) ----

    def parse(self, text: str) -> Genotype:
        """Validate ``text`` and return the genotype; raise ``ValueError`` with the reason."""
        raise NotImplementedError

    def size(self) -> int | None:
        """Number of architectures, or ``None`` when not enumerable."""
        return None

    def encode(self, genotype: Genotype) -> int:
        """Integer id in ``range(size())``."""
        raise NotImplementedError

    def decode(self, index: int) -> Genotype:
        raise NotImplementedError

    def to_ops(self, genotype: Genotype) -> tuple[int, ...]:
        """The genotype as a flat tuple of op indices (one per edge), for proposers."""
        raise NotImplementedError

    def from_ops(self, ops: tuple[int, ...]) -> Genotype:
        raise NotImplementedError

    def enumerate(self) -> Iterator[Genotype]:
        n = self.size()
        if n is None:
            raise NotImplementedError(f"search space {self.name!r} is not enumerable")
        return (self.decode(i) for i in range(n))

    # ---- costs ----

    def op_costs(self, inputs: InputSpec) -> dict[str, dict[str, torch.Tensor]]:
        """Per-op costs at their position: ``{group: {metric: tensor (cells, E, K)}}``.

        Metrics: ``params`` (count), ``flops`` (multiply-adds), ``mac`` (memory access).
        """
        raise NotImplementedError

    def genotype_costs(self, genotype: Genotype, inputs: InputSpec) -> dict[str, float]:
        """Exact ``params``/``flops`` of the standalone network of ``genotype``."""
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        """Settings that identify this space instance (recorded with runs)."""
        return {"name": self.name}
