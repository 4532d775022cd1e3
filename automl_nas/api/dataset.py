"""Data sets: uint8 images in memory with normalisation constants, or one graph with node splits."""

from __future__ import annotations

import abc
from typing import Any

import attrs


@attrs.define(kw_only=True)
class ImageSet:
    """A labelled image data set held in memory.

    Attributes:
        name: the data-set name as the recipe gave it (recorded with the run).
        train_x, train_y: uint8 ``(N, C, H, W)`` and int64 ``(N,)`` tensors.
        test_x, test_y: the held-out test set (never used during search), may be empty.
        mean, std: per-channel normalisation in ``[0, 1]`` units.
        num_classes: number of labels.
        crop_padding: padding of the random-crop augmentation (4 for 32 px, 2 for 16 px).
        search_split: optional ``(train_idx, valid_idx)`` fixed by the data set
            (e.g. a benchmark's official split); otherwise the host splits.
        eval_split: optional ``(valid_idx, test_idx)`` into the test set
            (NAS-Bench-201's xvalid/xtest halves).
        source: where the data came from (path or package), for the run record.
    """

    name: str
    train_x: Any
    train_y: Any
    test_x: Any
    test_y: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    crop_padding: int = 4
    search_split: Any = None
    eval_split: Any = None
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class GraphBatch:
    """What a graph network is called with: the whole graph and the nodes that count.

    Networks of graph spaces run on every node (message passing needs the neighbours)
    and return logits for the rows ``index`` only, in that order, so the engine's
    losses and accuracies see ``(len(index), classes)`` logits like an image batch.

    Attributes:
        x: ``(N, F)`` float node features.
        edge_index: ``(2, E)`` long tensor of directed edges (source, target).
        index: ``(B,)`` long tensor of the nodes whose predictions are returned.
    """

    x: Any
    edge_index: Any
    index: Any

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: Any) -> GraphBatch:
        return GraphBatch(x=self.x.to(device), edge_index=self.edge_index.to(device), index=self.index.to(device))


@attrs.define(kw_only=True)
class GraphSet:
    """One graph held in memory for node classification (the graph counterpart of :class:`ImageSet`).

    The engine trains full-batch: a step sees the whole graph and the loss of one
    node split (:class:`GraphBatch`); ``data.batch_size`` and ``data.augment`` do not
    apply and ``data.limit`` is refused.

    Attributes:
        name: the data-set name as the recipe gave it.
        x: ``(N, F)`` float node features; edge_index: ``(2, E)`` long edges.
        y: ``(N,)`` int64 labels.
        train_idx, valid_idx, test_idx: node ids of the splits (``valid_idx`` is the
            data set's own validation split: ``data.split = "dataset"`` searches the
            architecture on it; the host splits ``train_idx`` otherwise).
        num_classes: number of labels.
        source: where the data came from (path, package, generator), for the run record.
    """

    name: str
    x: Any
    edge_index: Any
    y: Any
    train_idx: Any
    valid_idx: Any
    test_idx: Any
    num_classes: int
    source: str = ""

    @property
    def num_features(self) -> int:
        return int(self.x.shape[1])

    def batch(self, split: str) -> tuple[GraphBatch, Any]:
        """``(GraphBatch, labels)`` of ``split`` (``"train"``, ``"valid"`` or ``"test"``)."""
        index = {"train": self.train_idx, "valid": self.valid_idx, "test": self.test_idx}[split]
        return GraphBatch(x=self.x, edge_index=self.edge_index, index=index), self.y[index]


class DatasetProvider(abc.ABC):
    """Loads one data set. Must raise :class:`~automl_nas.errors.DataError` naming
    the expected files and the option that fixes it when data is missing."""

    name: str = ""

    @abc.abstractmethod
    def load(self) -> ImageSet | GraphSet:
        """Read (and, when allowed, download) the data."""
