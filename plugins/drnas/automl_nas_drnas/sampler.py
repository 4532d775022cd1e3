"""DrNAS: Dirichlet Neural Architecture Search (Chen, Wang, Cheng, Tang, Hsieh; ICLR 2021,
arXiv:2006.10355).

Official code followed: DrNAS ``201-space/search_model.py`` (``process_step_matrix``,
``_get_kl_reg``, ``genotype``), ``201-space/train_search_progressive.py`` (stages, pruning,
warm-up, optimiser rebuild), ``net2wider.py``; spec: algorithms.md §7.

* beta = ELU(eta) + 1; theta_e ~ Dirichlet(beta_e).rsample() per group per forward pass,
  in every phase including "eval" (§7.1: search-time validation is sampled too).
* Progressive mode: at a stage boundary keep the ``keep_ops[s]`` largest eta per edge (among
  unpruned ops; ties to the lower index), set the removed eta to 0, and mask them: theta is
  drawn over all K, masked to exactly 0 and renormalised; ``EdgeWeights.mask`` keeps pruned ops
  from running. Then every PartialMixedOp is widened to ``partial_channels[s]`` and the weight
  SGD is rebuilt with expanded momentum (:mod:`automl_nas_drnas.widen`). The architecture is
  frozen for the first ``warmup_epochs`` epochs of each stage.
* Genotype from eta with pruned ops at -inf (never from a sample).

Deviations: the KL anchor is taken over all K ops also after pruning (as the code's
``_get_kl_reg``); the renormalising sum is clamped at the dtype's ``tiny`` so an underflowing
float32 sample cannot give NaN.
"""

from __future__ import annotations

from typing import Any

import torch

from automl_nas.api import EdgeWeights, RunContext, Sampler

from automl_nas_drnas.config import DrnasConfig
from automl_nas_drnas.dirichlet import concentration, kl_to_uniform
from automl_nas_drnas.widen import partial_ops, rebuild_sgd, widen_partial_ops

__all__ = ["DrnasSampler"]


class DrnasSampler(Sampler):
    """Dirichlet op weights with optional progressive prune + widen.

    Example:
        >>> s = DrnasSampler(DrnasConfig())
        >>> theta = s.sample({"cell": torch.zeros(6, 5)}, phase="eval")["cell"].weights
        >>> bool(torch.allclose(theta.sum(-1), torch.ones(6)))
        True
    """

    name = "drnas"

    def __init__(self, config: DrnasConfig | None = None) -> None:
        self.config = config if config is not None else DrnasConfig()
        self.masks: dict[str, torch.Tensor] = {}  # group -> (E, K) bool, True = op kept
        self._host_masks: dict[str, tuple[torch.Tensor, list]] = {}  # group -> (mask, mask as lists)
        self.stage = -1  # last stage whose structural changes were applied

    # ---------------------------------------------------------------- schedule

    @property
    def progressive(self) -> bool:
        return bool(self.config.stage_epochs)

    def stage_of(self, epoch: int) -> tuple[int, int]:
        """(stage index, epoch within the stage); epochs past the plan stay in the last stage."""
        start = 0
        for s, length in enumerate(self.config.stage_epochs):
            if epoch < start + length or s == len(self.config.stage_epochs) - 1:
                return s, epoch - start
            start += length
        return 0, epoch

    def updates_arch(self, epoch: int) -> bool:
        if not self.progressive:
            return True
        return self.stage_of(epoch)[1] >= self.config.warmup_epochs

    # ---------------------------------------------------------------- distribution

    def _mask(self, group: str, like: torch.Tensor) -> torch.Tensor | None:
        mask = self.masks.get(group)
        return None if mask is None else mask.to(like.device)

    def _masked_normalised(self, w: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            return w
        w = torch.where(mask, w, torch.zeros_like(w))
        return w / w.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)

    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        out = {}
        for group, eta in params.items():
            # validate_args=False: beta > 0 by construction, and the check's bool() would read the
            # concentration back from the device in every forward (a host sync; issue 15).
            theta = torch.distributions.Dirichlet(concentration(eta), validate_args=False).rsample()
            mask = self._mask(group, eta)
            cache = {"mask": self._host_mask(group)} if mask is not None else {}
            out[group] = EdgeWeights(weights=self._masked_normalised(theta, mask), mask=mask, cache=cache)
        return out

    def _host_mask(self, group: str) -> list[list[bool]]:
        """The mask as host lists, recomputed only when the mask changes: the mixed ops read it on
        the host, so a GPU run syncs once per pruning instead of once per forward (issue 8)."""
        mask = self.masks[group]
        cached = self._host_masks.get(group)
        if cached is None or cached[0] is not mask:
            cached = self._host_masks[group] = (mask, [[bool(b) for b in row] for row in mask.tolist()])
        return cached[1]

    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for group, eta in params.items():
            beta = concentration(eta)
            out[group] = self._masked_normalised(beta / beta.sum(-1, keepdim=True), self._mask(group, eta))
        return out

    def derive_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for group, eta in params.items():
            mask = self._mask(group, eta)
            out[group] = eta if mask is None else eta.detach().masked_fill(~mask, float("-inf"))
        return out

    def regularizer(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.config.reg_type != "kl":
            return None  # l2: the recipe's arch Adam weight decay (= reg_scale) is the anchor
        kl = sum(kl_to_uniform(concentration(eta)).sum() for eta in params.values())
        return self.config.reg_scale * kl

    # ---------------------------------------------------------------- progressive stages

    def epoch_start(self, run: RunContext) -> None:
        if not self.progressive:
            return
        target, _ = self.stage_of(run.epoch)
        while self.stage < target:
            self.stage += 1
            self._prune(run, self.stage)
        for group in self.masks:  # the host copy now, not in the epoch's first forward (issue 15)
            self._host_mask(group)
        # counted from 1, as the progress lines count epochs and the config's errors count stages
        self._sync_width(run, f"stage {self.stage + 1} from epoch {run.epoch + 1}")

    def restore(self, run: RunContext) -> None:
        """After ``load_state_dict`` on resume: widen the fresh supernet to the saved stage's width."""
        if self.progressive and self.stage >= 0:
            self._sync_width(run, f"resume in stage {self.stage + 1}")

    def prune(self, params: dict[str, torch.Tensor], keep: int) -> dict[str, int]:
        """Keep the ``keep`` largest eta per edge among unpruned ops; zero the removed eta in place.

        Returns the number of ops removed per group.
        """
        removed = {}
        with torch.no_grad():
            for group, eta in params.items():
                mask = self.masks.get(group)
                mask = torch.ones_like(eta, dtype=torch.bool) if mask is None else mask.to(eta.device)
                if keep >= int(mask.sum(-1).min()):
                    continue
                scores = eta.detach().masked_fill(~mask, float("-inf"))
                order = torch.sort(scores, dim=-1, descending=True, stable=True).indices  # ties: lower index
                new = torch.zeros_like(mask).scatter_(-1, order[:, :keep], True) & mask
                eta[~new] = 0.0
                removed[group] = int((mask & ~new).sum())
                self.masks[group] = new
        return removed

    def _prune(self, run: RunContext, stage: int) -> None:
        if not self.config.keep_ops:
            return
        keep = self.config.keep_ops[stage]
        removed = self.prune(run.params, keep)
        if removed:
            run.log(f"drnas: stage {stage + 1} from epoch {run.epoch + 1}: pruned to {keep} ops per edge "
                    f"({', '.join(f'{g}: {n} removed' for g, n in removed.items())})")

    def _sync_width(self, run: RunContext, when: str) -> None:
        if not self.config.partial_channels:
            return
        k_new = self.config.partial_channels[self.stage]
        old_k = sorted({p.k for p in partial_ops(run.supernet)})
        changed, remap, widths = widen_partial_ops(run.supernet, k_new, run.generator)
        if not changed:
            return
        run.replace_weight_optimizer(rebuild_sgd(run.weight_optimizer, run.supernet.parameters(), remap))
        run.log(f"drnas: {when}: partial channels k {old_k} -> {k_new} on {changed} mixed ops "
                f"(op width {widths or 'unchanged'}); weight SGD rebuilt, momentum carried over")

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "masks": {g: m.detach().cpu().clone() for g, m in self.masks.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state.get("stage", -1))
        self.masks = {g: m.to(torch.bool).clone() for g, m in state.get("masks", {}).items()}

    def status(self) -> dict[str, float]:
        if not self.progressive:
            return {}
        out = {"stage": float(max(self.stage, 0))}
        if self.masks:
            out["ops_kept"] = min(float(m.sum(-1).float().mean()) for m in self.masks.values())
        return out
