"""One graph from a local file.

``.npz`` (read with ``allow_pickle=False``): arrays ``x`` (nodes x features),
``edge_index`` (2 x edges, int), ``y`` (nodes, int) and optionally boolean
``train_mask``, ``val_mask`` (or ``valid_mask``), ``test_mask``.
``.pt``: a PyTorch Geometric ``Data`` object saved with ``torch.save``, read with
``torch.load(weights_only=True)`` (only tensors and PyG's registered classes),
masks as in Planetoid. Without masks the nodes are split at random (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from automl_nas import DataError
from automl_nas.api import DatasetProvider, GraphSet
from automl_nas_data_graph.config import GRAPH_FILE_FIX as _FIX
from automl_nas_data_graph.config import GraphFileConfig
from automl_nas_data_graph.splits import make_graphset, quiet_pyg_import, random_split

__all__ = ["GraphFile"]


class GraphFile(DatasetProvider):
    """The ``graph-file`` data set (options: :class:`GraphFileConfig`)."""

    name = "graph-file"

    def __init__(self, config: GraphFileConfig | None = None) -> None:
        self.config = config or GraphFileConfig()

    def load(self) -> GraphSet:
        self.config.preflight(self.name)
        path = Path(self.config.path).expanduser()
        x, edge_index, y, masks = self._npz(path) if path.suffix == ".npz" else self._pt(path)
        n = len(y)
        if all(m is not None for m in masks):
            masks = [torch.as_tensor(np.asarray(m)).view(-1) for m in masks]
            names = ("train_mask", "val_mask", "test_mask")
            wrong = [f"{name} has {len(m)} entries" for name, m in zip(names, masks) if len(m) != n]
            wrong += [f"{name} holds values other than 0 and 1 (a mask marks each node in or out)"
                      for name, m in zip(names, masks)
                      if m.dtype != torch.bool and not bool(((m == 0) | (m == 1)).all())]
            if wrong:  # a mask of another graph: its node ids would index past this one's
                raise DataError(f"graph-file: {path}: {'; '.join(wrong)} for {n} nodes (one boolean per node)",
                                hint=_FIX)
            splits = tuple(m.bool().nonzero().view(-1) for m in masks)
        else:
            cfg = self.config
            splits = random_split(n, cfg.train_nodes, cfg.valid_nodes, cfg.seed)
        return make_graphset(self.name, x, edge_index, y, splits, source=str(path), where=f"graph-file: {path}", fix=_FIX)

    def _npz(self, path: Path):
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except Exception as exc:  # truncated zip, object arrays (refused without pickle)
            raise DataError(f"graph-file: {path} is not a readable .npz ({type(exc).__name__}: {exc})", hint=_FIX) from exc
        missing = [k for k in ("x", "edge_index", "y") if k not in arrays]
        if missing:
            raise DataError(f"graph-file: {path} lacks array(s) {', '.join(missing)} (has {', '.join(sorted(arrays)) or 'none'})",
                            hint=_FIX)
        valid = arrays.get("val_mask", arrays.get("valid_mask"))
        return arrays["x"], arrays["edge_index"], arrays["y"], (arrays.get("train_mask"), valid, arrays.get("test_mask"))

    def _pt(self, path: Path):
        import re

        with quiet_pyg_import():
            from torch_geometric.data import data as pyg_data, storage as pyg_storage

        # Data's own pieces only (PyG registers some of them; the edge/tensor attrs are missing in 2.8).
        allowed = [pyg_data.Data, pyg_data.DataEdgeAttr, pyg_data.DataTensorAttr, pyg_storage.GlobalStorage,
                   pyg_storage.NodeStorage, pyg_storage.EdgeStorage]
        try:
            with torch.serialization.safe_globals(allowed):
                data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # anything but tensors and PyG's Data classes is refused
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            why = f"it names {found.group(1)}, which is not part of a PyG Data" if found else f"{type(exc).__name__}"
            raise DataError(f"graph-file: {path} is not a PyG Data file that loads safely ({why})", hint=_FIX) from exc
        for key in ("x", "edge_index", "y"):
            if getattr(data, key, None) is None:
                raise DataError(f"graph-file: {path} holds a {type(data).__name__} without {key!r}", hint=_FIX)
        masks = tuple(getattr(data, k, None) for k in ("train_mask", "val_mask", "test_mask"))
        return data.x, data.edge_index, data.y, masks
