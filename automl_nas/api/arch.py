"""Records that cross plugin boundaries: genotypes and per-forward edge weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import torch


@attrs.frozen
class Genotype:
    """A discrete architecture of one search space, as its canonical text.

    ``space`` is the search-space name (``"nb201"``, ``"darts"``); ``text`` is the
    space's canonical string (NAS-Bench-201: ``|nor_conv_3x3~0|+|...|``; DARTS:
    ``Genotype(normal=[...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``).
    Plain strings keep genotypes picklable, JSON-friendly and comparable.
    """

    space: str
    text: str

    def __str__(self) -> str:
        return self.text


@attrs.frozen(kw_only=True)
class EdgeWeights:
    """How the mixed ops of one architecture group combine their candidate ops.

    A sampler returns one ``EdgeWeights`` per group (``"cell"`` for NAS-Bench-201,
    ``"normal"``/``"reduce"`` for DARTS) for every forward pass; all cells of the
    group share it.

    Args:
        weights: ``(E, K)`` tensor; edge ``e`` outputs ``sum_k weights[e, k] * o_k(x)``.
        active: optional ``(E,)`` long tensor (hard samplers): only op
            ``active[e]`` runs on edge ``e``; its output is multiplied by
            ``weights[e, active[e]]`` so gradients reach the weights.
        add_inactive: with ``active``, also add the other ops' weights as
            scalars (GDAS' NAS-Bench-201 form, whose forward value is unchanged
            because those weights are 0 while their gradients are not).
        mask: optional ``(E, K)`` bool tensor; ``False`` ops are never run
            (progressive pruning).
    """

    weights: Any
    active: Any = None
    add_inactive: bool = False
    mask: Any = None
    # Host-side copies to avoid a device sync per edge; filled lazily by the mixed op.
    _cache: dict = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def picked(cls, weights: Any, active: Any, host_active: list[int]) -> EdgeWeights:
        """Hard weights whose picks the caller already holds on the host (``host_active`` equals
        ``active.tolist()``): the mixed op then never reads ``active`` back from the device."""
        return cls(weights=weights, active=active, cache={"active": list(host_active)})

    def active_list(self) -> list[int] | None:
        if self.active is None:
            return None
        if "active" not in self._cache:
            self._cache["active"] = [int(i) for i in self.active.tolist()]
        return self._cache["active"]

    def mask_list(self) -> list[list[bool]] | None:
        if self.mask is None:
            return None
        if "mask" not in self._cache:
            self._cache["mask"] = [[bool(b) for b in row] for row in self.mask.tolist()]
        return self._cache["mask"]


ArchSample = dict  # group name -> EdgeWeights
ArchParams = dict  # group name -> torch.nn.Parameter of shape (E, K)


def parse_genotype(space: Any, text: str, *, where: str = "genotype") -> Genotype:
    """``space.parse(text)`` with any failure turned into a :class:`~automl_nas.errors.RecipeError`.

    ``where`` names the place the string came from (a recipe key, a command-line
    argument) so the message says what to fix. Spaces report malformed strings
    with ``ValueError``; anything else they raise on garbage is reported the same way.
    """
    from automl_nas.errors import RecipeError

    example = ""
    try:
        if space.size():
            example = f", e.g. {space.decode(0).text!r}"
    except Exception:  # noqa: BLE001 - the example is a courtesy
        pass
    if not isinstance(text, str):
        raise RecipeError(f"{where}: expected an architecture string, got {type(text).__name__}")
    try:
        return space.parse(text)
    except NotImplementedError as exc:
        raise RecipeError(f"{where}: search space {space.name!r} cannot read architecture strings") from exc
    except (ValueError, KeyError, IndexError, TypeError, SyntaxError) as exc:
        short = text if len(text) <= 120 else text[:117] + "..."
        raise RecipeError(f"{where}: {short!r} is not an architecture of search space {space.name!r}: {exc}",
                          hint=f"give the space's canonical string{example}") from exc
