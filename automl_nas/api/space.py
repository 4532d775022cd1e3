"""The search-space interface: supernet, encoding, derivation, standalone networks, costs."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Iterable, Iterator

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
    # Op traits, declared by the space so that the engine names no op (collapse diagnostics):
    zero_ops: tuple[str, ...] = ()  # ops whose output is 0 ("none"): a chosen one is no op at all
    param_free_ops: tuple[str, ...] = ()  # ops without parameters besides the zero ops (skip, pooling)
    skip_ops: tuple[str, ...] = ()  # identity ops (skip connections), a subset of param_free_ops

    @property
    def declares_op_traits(self) -> bool:
        """Whether the space said which of its ops are parameter-free (else diagnostics are unknown)."""
        return bool(self.param_free_ops or self.zero_ops or self.skip_ops)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.edges), len(self.ops))


@attrs.frozen(kw_only=True)
class OpPosition:
    """One candidate op at one place of the search supernet (see :meth:`SearchSpace.op_modules`).

    ``cell`` counts the group's cells in network order (``0 .. GroupSpec.cells - 1``);
    ``edge`` and ``op`` index the group's ``(E, K)`` matrix (``op`` by name, as in
    ``GroupSpec.ops``). ``input_shape`` is what the op receives for one image,
    ``(C, H, W)``, without the batch dimension. Positions whose ops are built alike and
    see the same shape may share one ``module`` instance.
    """

    group: str
    cell: int
    edge: int
    op: str
    module: Any  # torch.nn.Module
    input_shape: tuple[int, ...]


@attrs.frozen
class Morphism:
    """One function-preserving edit of a genotype, offered by :meth:`SearchSpace.morphisms`.

    ``kind`` names the edit (``"deepen"``, ``"widen"``, ``"skip"``, a space's own), ``args`` says
    where (plain values, so a morphism prints, compares and hashes); ``exact`` is true when
    :meth:`SearchSpace.morph_network` returns a network computing the parent's function at
    initialisation to float tolerance, in training and in eval mode.

    .. versionadded:: 0.1 (issue 18)
    """

    kind: str
    args: tuple = ()
    exact: bool = True

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(str(a) for a in self.args)})"


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
    used by resource-aware objectives; ``op_modules`` hands ``automl profile-ops``
    every candidate op at its position so that its latency can be measured.
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

    def example_input(self, inputs: InputSpec, n: int, generator: torch.Generator | None = None) -> Any:
        """A random input of ``n`` examples that the supernet and networks accept (conformance
        tests). Default: images ``(n, C, H, W)``; a graph space returns an
        :class:`~automl_nas.api.GraphBatch` whose ``index`` holds ``n`` nodes.

        .. versionadded:: 0.1 (issue 17: the contract is not image-shaped)
        """
        import torch

        return torch.randn(n, inputs.channels, inputs.height, inputs.width, generator=generator)

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

    def genotype_choices(self, genotype: Genotype) -> dict[str, torch.Tensor]:
        """How often the genotype uses each op on each edge: ``{group: (E, K) tensor}``.

        The exact cost of a genotype under any per-op table ``{group: (cells, E, K)}``
        (``op_costs`` metrics, a latency table) is then ``sum(table * choices)``
        (:func:`automl_nas.costs.genotype_cost`). The default covers one-group spaces
        that implement :meth:`to_ops` (one op per edge); others override it.
        """
        import torch

        groups = self.groups()
        if len(groups) != 1:
            raise NotImplementedError(f"search space {self.name!r} has {len(groups)} groups; it must implement genotype_choices()")
        ops = torch.tensor(self.to_ops(genotype))
        return {groups[0].name: torch.nn.functional.one_hot(ops, len(groups[0].ops)).to(torch.get_default_dtype())}

    def op_modules(self, inputs: InputSpec) -> Iterator[OpPosition]:
        """Every candidate op of the search supernet at its position, for latency profiling.

        Yields one :class:`OpPosition` per ``(group, cell, edge, op)`` of :meth:`groups`
        (``cells x E x K`` records per group), each with a freshly built op module
        configured as in :meth:`build_supernet` and the per-image input shape it sees
        there for images of ``inputs``. ``automl profile-ops`` times each distinct
        ``(module, input_shape)`` once and writes the latency table that the ``latency``
        cost reads (format: :mod:`automl_nas.costs`).
        """
        raise NotImplementedError(
            f"search space {self.name!r} does not list its op modules (SearchSpace.op_modules), "
            f"so its ops cannot be profiled"
        )

    # ---- network morphisms (optional; issue 18) ----

    def morphisms(self, genotype: Genotype) -> list[Morphism]:
        """The function-preserving edits of ``genotype`` this space offers, in a fixed order.

        A space that implements this also implements :meth:`apply_morphism` and
        :meth:`morph_network`; :func:`supports_morphisms` tells whether it does. The
        ``morphism`` proposer and the retraining evaluator's warm start use them.
        """
        raise NotImplementedError(f"search space {self.name!r} offers no network morphisms (SearchSpace.morphisms)")

    def apply_morphism(self, genotype: Genotype, morphism: Morphism) -> Genotype:
        """The child genotype of ``morphism`` (one of ``morphisms(genotype)``) applied to ``genotype``."""
        raise NotImplementedError(f"search space {self.name!r} offers no network morphisms (SearchSpace.apply_morphism)")

    def morph_network(self, network: nn.Module, genotype: Genotype, morphism: Morphism, inputs: InputSpec) -> nn.Module:
        """A new network of ``apply_morphism(genotype, morphism)`` whose weights are transferred
        from ``network`` (a :meth:`build_network` of ``genotype``, possibly trained) so that, for
        an exact morphism, it computes the same function in train and eval mode. ``network`` is
        not modified."""
        raise NotImplementedError(f"search space {self.name!r} offers no network morphisms (SearchSpace.morph_network)")

    def edit_distance(self, a: Genotype, b: Genotype) -> float:
        """A distance between two genotypes for kernels over architectures (0 for equal ones).
        Default: the number of edges whose op differs (spaces with :meth:`to_ops`)."""
        ops_a, ops_b = self.to_ops(a), self.to_ops(b)
        return float(sum(x != y for x, y in zip(ops_a, ops_b)) + abs(len(ops_a) - len(ops_b)))

    def fingerprint(self) -> dict[str, Any]:
        """Settings that identify this space instance (recorded with runs)."""
        return {"name": self.name}


#: Metadata key of a space option (an attrs field of the space's config) that shapes only the
#: search supernet, not the network :meth:`SearchSpace.build_network` builds; its value names the
#: option that shapes the built network instead (``""``: none). ``build_model`` and the retraining
#: evaluator's ``network`` refuse such an option instead of ignoring it.
#:
#: .. versionadded:: 0.2
SUPERNET_ONLY = "supernet_only"


def supernet_only_options(config: Any, keys: Iterable[str]) -> dict[str, str]:
    """Those of ``keys`` that ``config`` (a space's attrs options, or their class) marks
    :data:`SUPERNET_ONLY`, each with the option that shapes the built network instead (``""``: none)."""
    cls = config if isinstance(config, type) else type(config)
    fields = attrs.fields_dict(cls) if attrs.has(cls) else {}
    return {key: str(fields[key].metadata[SUPERNET_ONLY]) for key in keys
            if key in fields and SUPERNET_ONLY in fields[key].metadata}


def supernet_only_problem(space_name: str, config: Any, keys: Iterable[str]) -> str | None:
    """One sentence naming the first of ``keys`` that only shapes ``space_name``'s search
    supernet (:data:`SUPERNET_ONLY`), and the option to set instead; ``None`` if there is none."""
    for key, instead in supernet_only_options(config, keys).items():
        return (f"{key!r} shapes only the {space_name!r} search supernet, not the network a genotype builds"
                + (f"; that network's is {instead!r}" if instead else ""))
    return None


def supports_morphisms(space: SearchSpace) -> bool:
    """Whether ``space`` implements the optional morphism methods (:meth:`SearchSpace.morphisms`)."""
    return type(space).morphisms is not SearchSpace.morphisms


def check_halvings(inputs: InputSpec, halvings: int, *, network: str) -> None:
    """Refuse images that ``network`` (its name, for the message), which halves them ``halvings``
    times in stride-2 stages whose two paths are added or concatenated (a residual block's
    shortcut, DARTS' factorized reduce), cannot take: height and width must divide by
    ``2 ** halvings``. Otherwise the first forward ends in a shape mismatch, or worse, a size-1
    path broadcasts silently. Call it in :meth:`SearchSpace.build_supernet` and
    :meth:`SearchSpace.build_network`; raises :class:`~automl_nas.errors.DataError`.

    .. versionadded:: 0.1 (images of 18x18 were an internal error after the run directory existed)
    """
    from automl_nas.errors import DataError

    step = 2 ** halvings
    if inputs.height % step or inputs.width % step:
        fit = "x".join(str(max(step, side // step * step)) for side in (inputs.height, inputs.width))
        raise DataError(f"images of {inputs.height}x{inputs.width} do not fit the {network} network: its {halvings} "
                        f"stride-2 stages need a height and width divisible by {step}",
                        hint=f"give images whose sides divide by {step} (e.g. {fit}): data.size where the data set "
                             f"has that option, otherwise crop or resize the arrays of the data file")
