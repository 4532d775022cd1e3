"""GDAS: Searching for a Robust Neural Architecture in Four GPU Hours (Dong & Yang; CVPR 2019,
arXiv:1910.04465).

Official code followed: AutoDL-Projects ``xautodl/models/cell_searchs/search_model_gdas.py``
(``forward``: Gumbel draw with redraw on inf/NaN, straight-through ``hardwts``),
``search_cells.py`` (``forward_gdas`` / ``forward_gdas_v1``) and ``exps/NAS-Bench-201-algos/GDAS.py``
(temperature); spec: algorithms.md §6.

Per forward pass and group: g ~ Gumbel(0, 1) (as -log Exp(1)), y = softmax((log_softmax(a) + g) / tau),
k* = argmax y, h = onehot(k*) - stopgrad(y) + y. Only op k* runs (``EdgeWeights.active``);
variant ``nb201`` also adds the other ops' (zero-valued) weights as scalars, ``single`` does not.
The genotype is derived from ``a``, never from a sample (spec §11.7).

The DARTS-space "FRC" variant of GDAS (a fixed, hand-designed reduction cell; only the normal
cell is searched) is a search-space option (``reduction = "gdas_frc"`` of the DARTS space); this
sampler then simply has no "reduce" group to sample. Deviations: none.
"""

from __future__ import annotations

import torch

from automl_nas.api import EdgeWeights, Sampler, TemperatureSchedule

from automl_nas_gdas.config import GdasConfig

__all__ = ["GdasSampler"]


class GdasSampler(TemperatureSchedule, Sampler):
    """Hard one-hot sample with soft-Gumbel gradients (straight-through), annealed tau.

    Example:
        >>> s = GdasSampler(GdasConfig())
        >>> s.set_epoch(1, 250); round(s.temperature, 7)
        9.960241
        >>> w = s.sample({"cell": torch.zeros(6, 5)}, phase="weights")["cell"]
        >>> w.active.shape, w.add_inactive
        (torch.Size([6]), True)
    """

    name = "gdas"

    def __init__(self, config: GdasConfig | None = None) -> None:
        self.config = config if config is not None else GdasConfig()
        self.temperature = float(self.config.temperature.start)  # until the engine calls set_epoch

    def gumbel(self, like: torch.Tensor) -> torch.Tensor:
        """g = -log(E), E ~ Exp(1): AutoDL-Projects' draw; may be +inf when E == 0 (then redrawn)."""
        return -torch.empty_like(like).exponential_().log()

    def soft(self, logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """y = softmax((log_softmax(a) + g) / tau) row-wise."""
        return torch.softmax((torch.log_softmax(logits, dim=-1) + noise) / self.temperature, dim=-1)

    def hard(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(h, k*, k* as a host list): straight-through one-hot and the selected op per edge.

        The finiteness check and k* reach the host in one transfer per draw (the mixed ops
        need k* on the host to run only the sampled op), so a GPU step syncs once per sample.
        """
        for _ in range(self.config.max_redraws):
            noise = self.gumbel(logits.detach())
            y = self.soft(logits, noise)
            index = y.argmax(dim=-1)
            finite = torch.isfinite(noise).all() & torch.isfinite(y).all()
            ok, *chosen = torch.cat([finite.view(1).to(index.dtype), index]).tolist()
            if ok:
                break
        else:
            raise FloatingPointError(
                f"gdas: {self.config.max_redraws} Gumbel draws in a row were not finite; "
                f"check the architecture parameters for inf/NaN"
            )
        onehot = torch.zeros_like(y).scatter_(-1, index.unsqueeze(-1), 1.0)
        return onehot - y.detach() + y, index, chosen

    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        out = {}
        for group, logits in params.items():
            h, index, chosen = self.hard(logits)
            out[group] = EdgeWeights(weights=h, active=index, add_inactive=self.config.variant == "nb201",
                                     cache={"active": chosen})
        return out

    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {group: torch.softmax(a, dim=-1) for group, a in params.items()}
