"""Options of the graph data sets (light: attrs only, no torch)."""

from __future__ import annotations

from pathlib import Path

import attrs

from automl_nas.api import INPUT_FILE
from automl_nas.benchstore import DEFAULT_DATA_ROOT, data_dir, file_in_the_way
from automl_nas.errors import DataError, missing_file

__all__ = ["DEFAULT_ROOT", "GRAPH_FILE_FIX", "GraphFileConfig", "PygConfig", "SbmConfig", "PYG_SETS"]

DEFAULT_ROOT = f"{DEFAULT_DATA_ROOT}/graphs"  # under $AUTOML_NAS_HOME/data when that is set
#: PyTorch Geometric data sets this provider knows: recipe name -> (PyG class, PyG name)
PYG_SETS = {
    "cora": ("Planetoid", "Cora"), "citeseer": ("Planetoid", "CiteSeer"), "pubmed": ("Planetoid", "PubMed"),
    "photo": ("Amazon", "Photo"), "computers": ("Amazon", "Computers"),
    "cs": ("Coauthor", "CS"), "physics": ("Coauthor", "Physics"),
}

_v = attrs.validators
_fraction = [_v.instance_of(float), _v.gt(0.0), _v.lt(1.0)]
_seed = [_v.instance_of(int), _v.ge(0)]


def _fractions_fit(instance: object, attribute: attrs.Attribute, value: float) -> None:
    total = instance.train_nodes + instance.valid_nodes  # type: ignore[attr-defined]
    if total >= 1.0:
        raise ValueError(f"train_nodes + valid_nodes = {total:.2f} leaves no test nodes; keep the sum below 1")


# The node split's options are train_nodes/valid_nodes, not *_fraction: [data] train_fraction is
# the host's (the share of the training nodes that trains the weights, the rest the architecture),
# and a plugin option of that name never received its value.


@attrs.frozen(kw_only=True)
class SbmConfig:
    """A planted-partition stochastic block model whose node features carry a weak class signal:
    a network that aggregates neighbours (GCN) classifies far better than one that does not (MLP)."""

    nodes: int = attrs.field(default=600, validator=[_v.instance_of(int), _v.ge(20)], metadata={"help": "number of nodes"})
    classes: int = attrs.field(default=4, validator=[_v.instance_of(int), _v.ge(2)], metadata={"help": "blocks = labels"})
    features: int = attrs.field(default=16, validator=[_v.instance_of(int), _v.ge(1)], metadata={"help": "node-feature width"})
    p_in: float = attrs.field(default=0.04, validator=[_v.gt(0.0), _v.le(1.0)], metadata={"help": "edge probability inside a block"})
    p_out: float = attrs.field(default=0.004, validator=[_v.ge(0.0), _v.le(1.0)], metadata={"help": "edge probability across blocks"})
    signal: float = attrs.field(default=0.6, validator=_v.ge(0.0),
                                metadata={"help": "distance of the class feature means (noise std is 1)"})
    train_nodes: float = attrs.field(default=0.3, validator=_fraction,
                                     metadata={"help": "share of nodes in the graph's training split "
                                                       "(data.train_fraction then cuts it for the search)"})
    valid_nodes: float = attrs.field(default=0.2, validator=_fraction + [_fractions_fit],
                                        metadata={"help": "share of nodes in the validation split (the rest is test)"})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"help": "seed of the graph, features and splits"})


@attrs.frozen(kw_only=True)
class PygConfig:
    """PyTorch Geometric's node-classification sets, read from (or downloaded into) ``root``."""

    dataset: str = attrs.field(default="cora", validator=_v.in_(tuple(PYG_SETS)),
                            metadata={"help": f"data set: {', '.join(PYG_SETS)}"})
    root: str = attrs.field(default=DEFAULT_ROOT, metadata={"help": "data cache directory (one folder per data set)"})
    download: bool = attrs.field(default=False, validator=_v.instance_of(bool),
                                 metadata={"help": "download into root when the files are missing (needs internet)"})
    train_nodes: float = attrs.field(default=0.6, validator=_fraction,
                                        metadata={"help": "Amazon/Coauthor (no public split): share of training nodes"})
    valid_nodes: float = attrs.field(default=0.2, validator=_fraction + [_fractions_fit],
                                        metadata={"help": "Amazon/Coauthor: share of validation nodes (the rest is test)"})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"help": "seed of the Amazon/Coauthor split"})

    def folder(self) -> Path:
        """Where PyG keeps this data set's ``raw/`` and ``processed/`` folders."""
        kind, pyg_name = PYG_SETS[self.dataset]
        # PyG's own layout: Amazon capitalises the folder name, Planetoid and Coauthor keep it.
        return data_dir(self.root) / (pyg_name.capitalize() if kind == "Amazon" else pyg_name)

    def offline_fix(self) -> str:
        """What to do when the files are missing: download, or copy them in."""
        pyg_name, folder = PYG_SETS[self.dataset][1], self.folder()
        copy = f"copy PyG's raw/ and processed/ folders of {pyg_name} into {folder}"
        if self.download:
            return f"check the internet connection (download = true fetches {pyg_name} from PyG's mirrors) or {copy}"
        return f"set `download = true` in [data] (needs internet; PyG fetches {pyg_name} into {folder}) or {copy}"

    def preflight(self, component: str) -> None:
        """The data set's files are there, or ``download = true`` will fetch them (``validate``
        said ok and ``run`` refused after building everything)."""
        folder = self.folder()
        blocked = file_in_the_way(folder, data_dir(self.root), component=f"{component} data set {self.dataset!r}",
                                  holds=f"{folder.name}/", default_root=self.root == DEFAULT_ROOT)
        if blocked is not None:  # neither PyG's download nor a copy could go there
            raise blocked
        if not self.download and not (folder / "processed").is_dir() and not (folder / "raw").is_dir():
            raise DataError(f"{component} data set {self.dataset!r}: no files in {folder}", hint=self.offline_fix())


GRAPH_FILE_FIX = ("set `path = ...` to a .npz with arrays x, edge_index, y (optional train_mask, val_mask, "
                  "test_mask) or a .pt file holding a torch_geometric.data.Data")


@attrs.frozen(kw_only=True)
class GraphFileConfig:
    """One graph from a local ``.npz`` (arrays) or PyTorch Geometric ``.pt`` (a ``Data`` object) file."""

    path: str = attrs.field(default="", metadata={"help": ".npz with x, edge_index, y (+ train/valid/test masks) or a PyG .pt",
                                                  INPUT_FILE: True})
    train_nodes: float = attrs.field(default=0.6, validator=_fraction,
                                        metadata={"help": "without masks in the file: share of training nodes"})
    valid_nodes: float = attrs.field(default=0.2, validator=_fraction + [_fractions_fit],
                                        metadata={"help": "without masks in the file: share of validation nodes"})
    seed: int = attrs.field(default=0, validator=_seed, metadata={"help": "seed of the split when the file has no masks"})

    def preflight(self, component: str) -> None:
        """The file exists and has a suffix this provider reads (its content is checked when read)."""
        if not self.path:
            raise DataError(f"{component}: no file given", hint=GRAPH_FILE_FIX)
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise DataError(f"{component}: {missing_file(path)}", hint=GRAPH_FILE_FIX)
        if path.suffix not in (".npz", ".pt"):
            raise DataError(f"{component}: {path} is neither .npz nor .pt", hint=GRAPH_FILE_FIX)
