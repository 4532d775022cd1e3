"""Search splits and a tensor batch loader with on-device augmentation (and full-batch graph loaders).

Images stay uint8 in memory; each batch is moved to the device, converted,
normalised and augmented there (random crop with zero padding + horizontal
flip, as torchvision's CIFAR pipeline), so decoding never starves the network.
Batches are a pure function of ``(seed, epoch, batch index)``, which makes a
resumed run see exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from typing import Iterator

import torch

from automl_nas.api.dataset import GraphBatch, GraphSet, ImageSet
from automl_nas.errors import DataError, RecipeError


def search_split(data: ImageSet, *, mode: str, train_fraction: float, limit: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the weight split and the architecture split of the training set.

    ``halves``: first ``train_fraction`` by index (DrNAS, DARTS); ``random``: a
    seeded permutation; ``dataset``: the data set's own split (e.g. a benchmark file).
    """
    n = len(data.train_y) if not limit else min(limit, len(data.train_y))
    if mode == "dataset":
        if data.search_split is None:
            raise RecipeError(f"data.split = \"dataset\": data set {data.name!r} defines no search split",
                              hint="use split = \"halves\" or \"random\"")
        train_idx, valid_idx = (torch.as_tensor(i, dtype=torch.long) for i in data.search_split)
        return train_idx[train_idx < n], valid_idx[valid_idx < n]
    cut = int(round(n * train_fraction))
    if cut < 1 or cut >= n:
        raise DataError(f"data set {data.name!r} has {n} training images: too few to split {train_fraction:.2f}/{1 - train_fraction:.2f}",
                        hint="use more images (data.limit = 0) or another data set")
    order = torch.arange(n) if mode == "halves" else torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:cut], order[cut:]


class BatchLoader:
    """Shuffled mini-batches of ``(normalised float images, labels)`` on ``device``."""

    def __init__(self, data: ImageSet, indices: torch.Tensor, *, batch_size: int, seed: int, device: str | torch.device = "cpu",
                 augment: bool = True, shuffle: bool = True, drop_last: bool = True, images=None, labels=None) -> None:
        self.x = (data.train_x if images is None else images)
        self.y = (data.train_y if labels is None else labels)
        self.indices = indices
        self.batch_size = min(batch_size, len(indices)) if drop_last else batch_size
        self.seed, self.device, self.augment, self.shuffle, self.drop_last = seed, torch.device(device), augment, shuffle, drop_last
        self.padding = data.crop_padding
        c = self.x.shape[1]
        self.mean = torch.tensor(data.mean[:c] if len(data.mean) >= c else data.mean * c, device=self.device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(data.std[:c] if len(data.std) >= c else data.std * c, device=self.device).view(1, -1, 1, 1) * 255
        if self.batch_size < 1:
            raise DataError("a data split is empty", hint="use more images (data.limit) or a smaller train_fraction")

    def __len__(self) -> int:
        n = len(self.indices)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return self.indices
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return self.indices[torch.randperm(len(self.indices), generator=gen)]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch`` from batch ``start`` on (resume mid-epoch)."""
        order = self.order(epoch)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield self.batch(idx, epoch, b)

    def batch(self, idx: torch.Tensor, epoch: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[idx].to(self.device, non_blocking=True)
        y = self.y[idx].to(self.device, non_blocking=True)
        if self.augment:
            gen = torch.Generator().manual_seed((self.seed * 100_003 + epoch) * 10_007 + b)
            x = random_crop_flip(x, self.padding, gen)
        return (x.float() - self.mean) / self.std, y

    def cycle(self, start_epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = start_epoch
        while True:
            yield from self.epoch(epoch)
            epoch += 1


def random_crop_flip(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-padded random crop back to the input size, then a random horizontal flip."""
    b, c, h, w = x.shape
    flips = torch.rand(b, generator=gen) < 0.5
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
    if padding:
        x = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        rows = (oy[:, None] + torch.arange(h)[None]).to(x.device)
        cols = (ox[:, None] + torch.arange(w)[None]).to(x.device)
        x = x[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
    flips = flips.to(x.device).view(b, 1, 1, 1)
    return torch.where(flips, x.flip(-1), x)


# ---- graphs: one graph, full-batch steps on node splits --------------------------------------


def graph_search_split(data: GraphSet, *, mode: str, train_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes of the weight split and the architecture split of a graph.

    ``dataset``: the graph's own train/valid nodes (the usual graph-NAS protocol);
    ``halves``/``random``: the training nodes cut by ``train_fraction``, in order or seeded.
    """
    train = torch.as_tensor(data.train_idx, dtype=torch.long)
    if mode == "dataset":
        return train, torch.as_tensor(data.valid_idx, dtype=torch.long)
    cut = int(round(len(train) * train_fraction))
    if cut < 1 or cut >= len(train):
        raise DataError(f"graph {data.name!r} has {len(train)} training nodes: too few to split {train_fraction:.2f}/{1 - train_fraction:.2f}",
                        hint='use data.split = "dataset" (the graph\'s own validation nodes) or another train_fraction')
    if mode == "random":
        train = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))]
    return train[:cut], train[cut:]


class GraphLoader:
    """The :class:`BatchLoader` of a graph: every epoch is one full-batch step on ``nodes``."""

    def __init__(self, data: GraphSet, nodes: torch.Tensor, *, device: str | torch.device = "cpu") -> None:
        if len(nodes) == 0:
            raise DataError(f"a node split of graph {data.name!r} is empty", hint='check the graph\'s masks or use data.split = "halves"')
        device = torch.device(device)
        self.graph = GraphBatch(x=data.x, edge_index=data.edge_index, index=nodes).to(device)
        self.y = data.y[nodes].to(device)

    def __len__(self) -> int:
        return 1

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[GraphBatch, torch.Tensor]]:
        if start == 0:
            yield self.graph, self.y

    def cycle(self, start_epoch: int = 0) -> Iterator[tuple[GraphBatch, torch.Tensor]]:
        while True:
            yield self.graph, self.y
