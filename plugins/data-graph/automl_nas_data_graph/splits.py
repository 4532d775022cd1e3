"""Node splits and GraphSet construction shared by the providers."""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch

from automl_nas import DataError
from automl_nas.api import GraphSet

__all__ = ["make_graphset", "quiet_pyg_import", "random_split"]


@contextlib.contextmanager
def quiet_pyg_import() -> Iterator[None]:
    """Import PyG without its import-time notice that ``torch.jit.script`` is deprecated (PyG 2.8)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
        yield


def random_split(n: int, train_fraction: float, valid_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """Seeded ``(train, valid, test)`` node ids covering ``range(n)``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a, b = int(round(n * train_fraction)), int(round(n * (train_fraction + valid_fraction)))
    return order[:a].sort().values, order[a:b].sort().values, order[b:].sort().values


def make_graphset(name: str, x, edge_index, y, splits, *, source: str, where: str, fix: str) -> GraphSet:
    """A checked :class:`GraphSet`; ``DataError`` naming ``where`` and ``fix`` on malformed arrays."""
    x = torch.as_tensor(x).float()
    edge_index = torch.as_tensor(edge_index).long()
    y = torch.as_tensor(y).long().view(-1)
    train, valid, test = (torch.as_tensor(s).long().view(-1) for s in splits)
    problems = []
    if x.dim() != 2:
        problems.append(f"x has shape {tuple(x.shape)}, expected (nodes, features)")
    elif len(y) != x.shape[0]:
        problems.append(f"y has {len(y)} labels for {x.shape[0]} nodes")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        problems.append(f"edge_index has shape {tuple(edge_index.shape)}, expected (2, edges)")
    elif edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= x.shape[0]):
        problems.append("edge_index names nodes outside 0..nodes-1")
    if not problems and (y.min() < 0 if len(y) else False):
        problems.append("y has negative labels")
    elif not problems and len(y):
        present = torch.unique(y)
        if len(present) != int(present[-1]) + 1:  # a stray code (255, or labels 5..7) grew the classifier
            problems.append(f"the labels are not the class indices 0..K-1: they go up to {int(present[-1])} but "
                            f"{int(present[-1]) + 1 - len(present)} of those values never occur")
    if not problems and x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        problems.append(f"x holds {bad} non-finite feature value(s) (nan or inf); the first step's loss would be nan")
    named = (("train", train), ("valid", valid), ("test", test))
    for split_name, ids in named:
        if not problems and len(ids) == 0 and split_name != "test":
            problems.append(f"the {split_name} split is empty")
        elif not problems and len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= x.shape[0]):
            problems.append(f"the {split_name} split names nodes outside 0..{x.shape[0] - 1}")
    if not problems:  # a node in two splits trains the weights on the nodes that score them (or the test on both)
        shared = [f"{int(torch.isin(a, b).sum())} in both {first} and {second}"
                  for i, (first, a) in enumerate(named) for second, b in named[i + 1:] if bool(torch.isin(a, b).any())]
        if shared:
            problems.append(f"the splits share nodes ({', '.join(shared)}); they must be disjoint")
    if problems:
        raise DataError(f"{where}: {'; '.join(problems)}", hint=fix)
    return GraphSet(name=name, x=x, edge_index=edge_index, y=y, train_idx=train, valid_idx=valid, test_idx=test,
                    num_classes=int(y.max()) + 1, source=source)
