"""PyTorch Geometric's standard node-classification sets: Planetoid (Cora, CiteSeer,
PubMed, with their public split), Amazon (Photo, Computers) and Coauthor (CS, Physics),
with a seeded ``train_nodes``/``valid_nodes`` split since they publish none.

Files live in ``root`` (the data cache); they are downloaded only with
``download = true``, so an offline run without the files gets a data error that
names the folder, never a network timeout.
"""

from __future__ import annotations

from pathlib import Path

from automl_nas import DataError
from automl_nas.api import DatasetProvider, GraphSet
from automl_nas.benchstore import data_dir
from automl_nas.datafetch import exclusive
from automl_nas_data_graph.config import PYG_SETS, PygConfig
from automl_nas_data_graph.splits import make_graphset, quiet_pyg_import, random_split

__all__ = ["PygNodeSet"]


class PygNodeSet(DatasetProvider):
    """The ``pyg`` data set (options: :class:`PygConfig`)."""

    name = "pyg"

    def __init__(self, config: PygConfig | None = None) -> None:
        self.config = config or PygConfig()

    def folder(self) -> Path:
        return self.config.folder()

    def load(self) -> GraphSet:
        cfg = self.config
        kind, pyg_name = PYG_SETS[cfg.dataset]
        folder = self.folder()
        fix = cfg.offline_fix()
        cfg.preflight(self.name)
        root = data_dir(cfg.root)
        try:
            with quiet_pyg_import():
                from torch_geometric import datasets
            # PyG downloads and processes in place: trials starting together on one machine take
            # turns, so the later ones read the first one's finished files.
            with exclusive(root, f"pyg-{pyg_name}"):
                data = _offline(getattr(datasets, kind), cfg.download)(str(root), pyg_name)[0]
        except _NoDownload:
            _drop_if_empty(folder / "raw")  # PyG made it before asking to download: it would pass the check above
            raise DataError(f"pyg data set {cfg.dataset!r}: the files in {folder} are incomplete, and download = "
                            f"false", hint=fix) from None
        except Exception as exc:  # network down, truncated archive, processed files of another PyG version
            _drop_if_empty(folder / "raw")  # a failed download's empty raw/: validate then said ok
            if (folder / "processed").is_dir():  # PyG reads processed/ whenever it is there: never fetches again
                fix = (f"remove {folder / 'processed'} (PyG rebuilds it from raw/"
                       f"{', or downloads again with download = true' if cfg.download else ''}), or {fix}")
            raise DataError(f"pyg data set {cfg.dataset!r} could not be read from {folder}: {type(exc).__name__}: {exc}",
                            hint=fix) from exc
        if kind == "Planetoid":
            splits = (data.train_mask.nonzero().view(-1), data.val_mask.nonzero().view(-1), data.test_mask.nonzero().view(-1))
        else:
            splits = random_split(data.num_nodes, cfg.train_nodes, cfg.valid_nodes, cfg.seed)
        return make_graphset(cfg.dataset, data.x, data.edge_index, data.y, splits, source=f"torch_geometric {kind}({pyg_name}) in {folder}",
                             where=str(folder), fix=fix)


class _NoDownload(Exception):
    """PyG asked to download with ``download = false``."""


def _offline(cls: type, download: bool) -> type:
    """``cls``, or with ``download = false`` a subclass whose ``download`` refuses: PyG downloads
    whenever a raw file is missing, so a folder with some files went to the network anyway."""
    if download:
        return cls

    def refuse(self) -> None:
        raise _NoDownload

    return type(cls.__name__, (cls,), {"download": refuse})


def _drop_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # not empty (a user's partial copy stays), or absent
        pass
