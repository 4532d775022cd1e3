"""Uniform single-path sampling: Single Path One-Shot NAS with Uniform Sampling (Guo, Zhang,
Mu, Heng, Liu, Wei, Sun; ECCV 2020, arXiv:1904.00420).

Every forward pass runs one op per edge, drawn uniformly (``active``; only that op runs), so
the supernet's weights are trained without any architecture parameter. Nothing is learned:
``learnable = False``, and the engine makes no architecture step. After each epoch the sampler
scores ``candidates`` uniformly drawn paths on the engine's validation batches (the
:class:`~automl_nas.api.ValidationObserver` protocol) and the best one is the epoch's genotype.

Deviation: SPOS selects the final path by an evolutionary search over the trained supernet;
here the per-epoch selection is random search over ``candidates`` paths (the black-box
proposers of ``automl search`` can run the full search on a trained supernet's evaluator).
"""

from __future__ import annotations

from typing import Any

import torch

from automl_nas.api import EdgeWeights, RunContext, Sampler

from automl_nas_uniform.config import UniformConfig

__all__ = ["UniformSampler"]


class UniformSampler(Sampler):
    """One uniformly drawn op per edge for every forward pass; nothing to learn.

    Example:
        >>> s = UniformSampler()
        >>> w = s.sample({"cell": torch.zeros(6, 5)}, phase="weights")["cell"]
        >>> w.active.shape, float(w.weights.sum())
        (torch.Size([6]), 6.0)
    """

    name = "uniform"
    learnable = False

    def __init__(self, config: UniformConfig | None = None) -> None:
        self.config = config if config is not None else UniformConfig()
        self.best: dict[str, list[int]] = {}  # the best scored path per group (op index per edge)

    def init_params(self, groups, generator=None) -> dict[str, torch.Tensor]:
        return {g.name: torch.zeros(g.shape) for g in groups}  # shapes only: there is nothing to learn

    def sample(self, params: dict[str, torch.Tensor], *, phase: str) -> dict[str, EdgeWeights]:
        return {group: _path(torch.randint(p.shape[1], (p.shape[0],), device=p.device), p) for group, p in params.items()}

    def probs(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {group: torch.full(p.shape, 1.0 / p.shape[1], dtype=p.dtype, device=p.device) for group, p in params.items()}

    def derive_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for group, p in params.items():
            best = self.best.get(group)
            out[group] = p.detach() if best is None else _path(torch.tensor(best, device=p.device), p).weights
        return out

    # ---- ValidationObserver ----
    @torch.no_grad()
    def observe(self, run: RunContext, valid_acc: float) -> None:
        """Score ``candidates`` paths (drawn with the run's seeded generator) on the validation batches."""
        scored = []
        run.supernet.eval()
        for _ in range(self.config.candidates):
            path = {g: torch.randint(p.shape[1], (p.shape[0],), generator=run.generator) for g, p in run.params.items()}
            sample = {g: _path(idx.to(run.params[g].device), run.params[g]) for g, idx in path.items()}
            scored.append((_accuracy(run, sample), {g: idx.tolist() for g, idx in path.items()}))
        run.supernet.train()
        if scored:
            self.best = max(scored, key=lambda item: item[0])[1]  # ties: the first drawn

    # ---- checkpoints ----
    def state_dict(self) -> dict[str, Any]:
        return {"best": {g: list(v) for g, v in self.best.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = {g: [int(i) for i in v] for g, v in state.get("best", {}).items()}


def _path(index: torch.Tensor, like: torch.Tensor) -> EdgeWeights:
    """One op per edge: one-hot weights, and the chosen index so only that op runs."""
    weights = torch.nn.functional.one_hot(index, like.shape[1]).to(like.dtype)
    return EdgeWeights(weights=weights, active=index)


def _accuracy(run: RunContext, sample: dict[str, EdgeWeights]) -> float:
    correct = total = 0
    for x, y in run.valid_batches():
        out = run.supernet(x, sample)
        logits = out[0] if isinstance(out, tuple) else out
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    return correct / max(total, 1)
