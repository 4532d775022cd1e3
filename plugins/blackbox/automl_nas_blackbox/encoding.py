"""The flat op-index view of a finite cell space that every proposer works on.

A genotype is ``space.to_ops(g)``: one op index per edge over all groups, in
the order of ``space.groups()``; every combination must be a valid cell
(true for NAS-Bench-201, where ``from_ops`` builds any 6-tuple).
"""

from __future__ import annotations

import random
from typing import Any

import attrs

__all__ = ["Encoding"]


@attrs.frozen
class Encoding:
    choices: tuple[int, ...]  # number of ops per position
    nodes: tuple[tuple[int, ...], ...]  # positions grouped by target node ("i<-j" labels)

    @classmethod
    def of(cls, space: Any) -> "Encoding":
        choices, nodes, offset = [], {}, 0
        for group in space.groups():
            for e, label in enumerate(group.edges):
                choices.append(len(group.ops))
                target = label.split("<-")[0] if "<-" in label else str(e)
                nodes.setdefault((group.name, target), []).append(offset + e)
            offset += len(group.edges)
        return cls(tuple(choices), tuple(tuple(v) for v in nodes.values()))

    def random(self, rng: random.Random) -> tuple[int, ...]:
        return tuple(rng.randrange(k) for k in self.choices)

    def mutate(self, ops: tuple[int, ...], rng: random.Random, by_node: bool = True) -> tuple[int, ...]:
        """Change one position to a different op. ``by_node`` picks a node, then one of its
        input edges (NB201 ``R_EA.py``: edge 1<-0 is drawn with prob. 1/3, 3<-j with 1/9)."""
        if by_node:
            pos = rng.choice(self.nodes[rng.randrange(len(self.nodes))])
        else:
            pos = rng.randrange(len(self.choices))
        new = rng.randrange(self.choices[pos] - 1)
        new += new >= ops[pos]  # uniform over the other ops, like NB201's redraw-until-different
        return ops[:pos] + (new,) + ops[pos + 1:]
