"""Network-morphism search with Bayesian optimisation (Auto-Keras: Jin, Song & Hu, "Auto-Keras: An
Efficient Neural Architecture Search System", KDD 2019, arXiv:1806.10282, §3-4).

* Surrogate: a Gaussian process over architectures with the edit-distance kernel
  ``k(a, b) = exp(-rho^2 d(a, b)^2)`` (§3.1; ``d`` is the space's ``edit_distance``), on
  standardised scores. Deviation: Auto-Keras embeds ``d`` with Bourgain's algorithm to keep the
  kernel positive definite; here the Gram matrix gets a growing jitter until its Cholesky
  factorisation succeeds.
* Acquisition: UCB ``mu + beta * sigma`` (§3.2, beta = 2.576).
* Its optimisation (§3.2, Algorithm 1): a tree search over morphism sequences. A priority queue
  starts with every trained architecture (the possible parents); the best entry is popped and
  each of its one-edit children (``space.morphisms``) is scored; a child better than the best so
  far becomes the best, and a child enters the queue with the simulated-annealing probability
  ``exp((acq(child) - acq(best)) / T)``; ``T`` cools by ``cooling`` per pop, down to ``t_min``.
  The best child not asked before is proposed, and ``lineage`` records its parent and the
  morphism sequence (the warm-start evaluator finds the same parent through the run records).

The first ask is the space's smallest architecture (``derive`` of all-zero parameters: NB201's
all-``none`` cell, the macro space's stage convs only). Ask/tell adaptation (parallel asks): an
ask with nothing told yet edits an asked architecture at random.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

import numpy as np

from automl_nas.api.sampler import Proposer, SpaceExhausted
from automl_nas.api.space import supports_morphisms
from automl_nas.errors import RecipeError
from automl_nas_blackbox.config import MorphismConfig

__all__ = ["MorphismSearch", "EditDistanceGP"]


class EditDistanceGP:
    """GP regression with kernel ``exp(-rho^2 d^2)`` over a precomputed distance function."""

    def __init__(self, distance, rho: float, noise: float) -> None:
        self.distance, self.rho, self.noise = distance, rho, noise
        self.points: list[Any] = []

    def _k(self, d: np.ndarray) -> np.ndarray:
        return np.exp(-(self.rho ** 2) * d ** 2)

    def fit(self, points: list[Any], values: list[float]) -> None:
        self.points = list(points)
        y = np.asarray(values, dtype=float)
        self.mean, self.scale = float(y.mean()), float(y.std()) or 1.0
        gram = self._k(np.array([[self.distance(a, b) for b in points] for a in points]))
        jitter = self.noise
        while True:
            try:
                self.chol = np.linalg.cholesky(gram + jitter * np.eye(len(points)))
                break
            except np.linalg.LinAlgError:
                jitter *= 10
        self.alpha = np.linalg.solve(self.chol.T, np.linalg.solve(self.chol, (y - self.mean) / self.scale))

    def predict(self, point: Any) -> tuple[float, float]:
        kx = self._k(np.array([self.distance(point, p) for p in self.points]))
        mu = float(kx @ self.alpha)
        v = np.linalg.solve(self.chol, kx)
        var = max(1.0 - float(v @ v), 1e-12)
        return self.mean + self.scale * mu, self.scale * math.sqrt(var)


class MorphismSearch(Proposer):
    name = "morphism"

    def __init__(self, config: MorphismConfig | None = None) -> None:
        self.config = config or MorphismConfig()

    def setup(self, space: Any, seed: int) -> None:
        if not supports_morphisms(space):
            raise RecipeError(f"blackbox.proposer 'morphism': the {space.name!r} space offers no network morphisms",
                              hint="use a space with morphisms (macro, nb201) or another proposer")
        self.space, self.rng = space, random.Random(seed)
        self.told: dict[str, tuple[Any, float]] = {}
        self.asked: set[str] = set()
        self.lineage: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._distances: dict[tuple[str, str], float] = {}

    # ---- ask/tell ----

    def ask(self) -> Any:
        if not self.asked:
            import torch

            base = self.space.derive({g.name: torch.zeros(g.shape) for g in self.space.groups()})
            return self._propose(base, None, ())
        if not self.told:
            return self._random_edit()
        found = self._optimise_acquisition()
        return self._propose(*found) if found is not None else self._random_edit()

    def tell(self, genotype: Any, value: float) -> None:
        self.told[genotype.text] = (genotype, float(value))

    def origin(self, genotype: Any) -> dict[str, Any] | None:
        """The parent (a trained or asked architecture) and the morphisms that made ``genotype``;
        ``None`` for the first architecture."""
        if genotype.text not in self.lineage:
            return None
        parent, path = self.lineage[genotype.text]
        return {"parent": parent, "morphisms": list(path)}

    # ---- internals ----

    def _propose(self, genotype: Any, parent: Any, path: tuple) -> Any:
        self.asked.add(genotype.text)
        if parent is not None:
            self.lineage[genotype.text] = (parent.text, tuple(str(m) for m in path))
        return genotype

    def distance(self, a: Any, b: Any) -> float:
        key = (a.text, b.text) if a.text <= b.text else (b.text, a.text)
        if key not in self._distances:
            self._distances[key] = float(self.space.edit_distance(a, b))
        return self._distances[key]

    def _children(self, genotype: Any) -> list[tuple[Any, Any]]:
        return [(self.space.apply_morphism(genotype, m), m) for m in self.space.morphisms(genotype)]

    def _optimise_acquisition(self):
        cfg = self.config
        trained = [g for g, _ in self.told.values()]
        # An infinite score (NASWOT's -inf) has no magnitude to regress on: with it the GP's mean and
        # scale were inf/NaN and every acquisition NaN. The surrogate learns from the finite ones.
        finite = [(g, v) for g, v in self.told.values() if math.isfinite(v)]
        if not finite:
            return None  # nothing to learn from yet: a random edit
        gp = EditDistanceGP(self.distance, cfg.rho, cfg.noise)
        gp.fit([g for g, _ in finite], [v for _, v in finite])

        def acquisition(g: Any) -> float:
            mu, sigma = gp.predict(g)
            return mu + cfg.beta * sigma

        counter = 0  # heap tie-breaker: insertion order
        queue = []
        for g in trained:
            heapq.heappush(queue, (-acquisition(g), counter, g, g, ()))
            counter += 1
        best = None  # (acq, genotype, parent, path)
        temperature, seen = cfg.t_start, {g.text for g in trained}
        while queue and temperature > cfg.t_min:
            _, _, genotype, parent, path = heapq.heappop(queue)
            if len(path) >= cfg.max_edits:
                continue
            for child, morphism in self._children(genotype):
                if child.text in seen:
                    continue
                seen.add(child.text)
                score = acquisition(child)
                if child.text not in self.asked and (best is None or score > best[0]):
                    best = (score, child, parent, path + (morphism,))
                reference = best[0] if best is not None else score
                if self.rng.random() < math.exp(min(0.0, (score - reference) / temperature)):
                    heapq.heappush(queue, (-score, counter, child, parent, path + (morphism,)))
                    counter += 1
            temperature *= cfg.cooling
        return None if best is None else best[1:]

    def _random_edit(self) -> Any:
        parents = [g for g, _ in self.told.values()] or [self.space.parse(t) for t in sorted(self.asked)]
        for _ in range(100):
            parent = self.rng.choice(parents)
            genotype, path = parent, []
            for _ in range(self.rng.randint(1, self.config.max_edits)):
                children = self._children(genotype)
                if not children:
                    break
                genotype, morphism = self.rng.choice(children)
                path.append(morphism)
            if genotype.text not in self.asked:
                return self._propose(genotype, parent, tuple(path))
        return self._unasked_child()

    def _unasked_child(self) -> Any:
        """A child not asked yet of any asked architecture, chosen at random; when there is none,
        the asked set is closed under the morphisms, and since each was reached from the first by
        morphisms, so is everything this search can reach. (Random edits miss rare unasked
        children: the search used to end with a false "no architecture left" after 138 of 729
        NB201 cells.)"""
        fresh: dict[str, tuple[Any, Any, Any]] = {}
        for text in sorted(self.asked):
            parent = self.told[text][0] if text in self.told else self.space.parse(text)
            for child, morphism in self._children(parent):
                if child.text not in self.asked and child.text not in fresh:
                    fresh[child.text] = (child, parent, morphism)
        if not fresh:
            raise SpaceExhausted(f"the network-morphism search has asked all {len(self.asked)} architectures that "
                                 f"morphisms reach from its first one (the space's limits bound them)")
        child, parent, morphism = fresh[self.rng.choice(sorted(fresh))]
        return self._propose(child, parent, (morphism,))
