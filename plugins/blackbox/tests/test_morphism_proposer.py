"""Issue 18: the Auto-Keras morphism proposer: GP over the edit-distance kernel, tree search over
morphism sequences from trained parents."""

from __future__ import annotations

import pytest

from automl_nas.errors import RecipeError
from automl_nas_blackbox.config import MorphismConfig
from automl_nas_blackbox.morphism import EditDistanceGP, MorphismSearch
from automl_nas_space_darts.config import DartsConfig
from automl_nas_space_darts.space import DartsSpace
from automl_nas_space_macro.config import MacroConfig
from automl_nas_space_macro.space import MacroSpace
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.space import Nb201Space

NB201 = Nb201Space(Nb201Config(channels=4, cells_per_stage=1))
MACRO = MacroSpace(MacroConfig(channels=4, stages=2, slots=1, max_width=32, max_layers=8))


def test_gp_interpolates_told_points_and_is_unsure_far_away():
    points = [NB201.from_ops(ops) for ops in [(0,) * 6, (2,) * 6, (3,) * 6]]
    gp = EditDistanceGP(lambda a, b: NB201.edit_distance(a, b), rho=0.5, noise=1e-8)
    gp.fit(points, [1.0, 2.0, 4.0])
    for p, y in zip(points, [1.0, 2.0, 4.0]):
        mu, sigma = gp.predict(p)
        assert mu == pytest.approx(y, abs=1e-4) and sigma < 1e-2
    _, sigma_near = gp.predict(NB201.from_ops((3, 3, 3, 3, 3, 2)))
    _, sigma_far = gp.predict(NB201.from_ops((1, 4, 1, 4, 1, 4)))
    assert sigma_far > sigma_near > 0


@pytest.mark.parametrize("space", [NB201, MACRO], ids=["nb201", "macro"])
def test_proposals_are_new_and_reached_from_a_told_parent_by_their_morphisms(space):
    proposer = MorphismSearch(MorphismConfig())
    proposer.setup(space, 0)
    first = proposer.ask()
    assert first == space.derive({g.name: __import__("torch").zeros(g.shape) for g in space.groups()})
    proposer.tell(first, 0.0)
    seen = {first.text}
    for q in range(12):
        genotype = proposer.ask()
        assert genotype.text not in seen
        parent_text, path = proposer.lineage[genotype.text]
        assert parent_text in seen and 1 <= len(path) <= proposer.config.max_edits
        g = space.parse(parent_text)
        for step in path:  # the recorded sequence really leads from the parent to the child
            g = space.apply_morphism(g, next(m for m in space.morphisms(g) if str(m) == step))
        assert g == genotype
        seen.add(genotype.text)
        proposer.tell(genotype, float(len(genotype.text)))


def test_the_search_climbs_a_smooth_objective_to_its_optimum():
    """Score = number of 3x3 convs (+ half a point per 1x1): the GP + UCB tree search reaches the
    all-3x3 cell (score 6) within 25 queries from the all-none start."""
    proposer = MorphismSearch(MorphismConfig())
    proposer.setup(NB201, 1)
    best = 0.0
    for _ in range(25):
        g = proposer.ask()
        ops = NB201.to_ops(g)
        value = sum(o == 3 for o in ops) + 0.5 * sum(o == 2 for o in ops)
        proposer.tell(g, value)
        best = max(best, value)
    assert best == 6.0


def test_a_space_without_morphisms_is_refused():
    with pytest.raises(RecipeError, match="offers no network morphisms"):
        MorphismSearch().setup(DartsSpace(DartsConfig(channels=4, layers=3)), 0)
