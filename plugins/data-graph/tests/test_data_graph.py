"""Graph data sets: the generated SBM (structure, determinism, a learnable signal) and the file/PyG readers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automl_nas.api import GraphSet
from automl_nas.errors import DataError
from automl_nas.testing.contracts import DatasetContract
from automl_nas_data_graph.config import GraphFileConfig, PygConfig, SbmConfig
from automl_nas_data_graph.files import GraphFile
from automl_nas_data_graph.pyg import PygNodeSet
from automl_nas_data_graph.sbm import Sbm


def test_sbm_is_an_undirected_graph_with_disjoint_splits():
    data = Sbm(SbmConfig(nodes=200, seed=3)).load()
    assert isinstance(data, GraphSet) and data.x.shape == (200, 16) and data.num_classes == 4
    src, dst = data.edge_index
    assert not (src == dst).any()
    edges = set(zip(src.tolist(), dst.tolist()))
    assert all((b, a) in edges for a, b in edges)
    ids = torch.cat([data.train_idx, data.valid_idx, data.test_idx])
    assert sorted(ids.tolist()) == list(range(200))
    # the blocks are assortative: most edges stay inside a class
    assert (data.y[src] == data.y[dst]).float().mean() > 0.6


def test_sbm_is_a_function_of_its_options():
    a, b = Sbm(SbmConfig(seed=1)).load(), Sbm(SbmConfig(seed=1)).load()
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index) and torch.equal(a.test_idx, b.test_idx)
    assert not torch.equal(a.x, Sbm(SbmConfig(seed=2)).load().x)


def _fit(data: GraphSet, graph: bool) -> float:
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    conv1 = GCNConv(data.num_features, 32) if graph else torch.nn.Linear(data.num_features, 32)
    conv2 = GCNConv(32, data.num_classes) if graph else torch.nn.Linear(32, data.num_classes)

    def forward():
        args = (data.edge_index,) if graph else ()
        return conv2(torch.relu(conv1(data.x, *args)), *args)

    opt = torch.optim.Adam([*conv1.parameters(), *conv2.parameters()], lr=0.01, weight_decay=5e-4)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward()[data.train_idx], data.y[data.train_idx]).backward()
        opt.step()
    with torch.no_grad():
        return float((forward()[data.test_idx].argmax(1) == data.y[data.test_idx]).float().mean())


def test_sbm_signal_is_learnable_by_message_passing():
    data = Sbm(SbmConfig()).load()
    gcn, mlp = _fit(data, graph=True), _fit(data, graph=False)
    chance = 1 / data.num_classes
    assert gcn > chance + 0.3, f"GCN {gcn:.2f} vs chance {chance:.2f}"
    assert gcn > mlp + 0.15, f"GCN {gcn:.2f} should beat a per-node MLP {mlp:.2f} clearly"


def _arrays(n: int = 30):
    gen = np.random.default_rng(0)
    edge_index = np.stack([np.arange(n), (np.arange(n) + 1) % n])
    return {"x": gen.normal(size=(n, 5)).astype(np.float32), "edge_index": edge_index, "y": np.arange(n) % 3}


def test_npz_graph_with_and_without_masks(tmp_path):
    arrays = _arrays()
    plain = tmp_path / "g.npz"
    np.savez(plain, **arrays)
    data = GraphFile(GraphFileConfig(path=str(plain))).load()
    assert data.x.shape == (30, 5) and data.num_classes == 3 and len(data.train_idx) == 18 and len(data.valid_idx) == 6
    masks = {"train_mask": np.arange(30) < 10, "val_mask": (np.arange(30) >= 10) & (np.arange(30) < 20),
             "test_mask": np.arange(30) >= 20}
    masked = tmp_path / "m.npz"
    np.savez(masked, **arrays, **masks)
    data = GraphFile(GraphFileConfig(path=str(masked))).load()
    assert data.train_idx.tolist() == list(range(10)) and data.test_idx.tolist() == list(range(20, 30))


def test_npz_refusals_name_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 2)), edge_index=np.array([[0], [9]]))
    with pytest.raises(DataError, match=r"bad\.npz lacks array\(s\) y") as err:
        GraphFile(GraphFileConfig(path=str(bad))).load()
    assert "edge_index" in err.value.hint
    out_of_range = tmp_path / "range.npz"
    np.savez(out_of_range, x=np.zeros((4, 2)), edge_index=np.array([[0], [9]]), y=np.zeros(4, dtype=int))
    with pytest.raises(DataError, match="outside 0..nodes-1"):
        GraphFile(GraphFileConfig(path=str(out_of_range))).load()
    with pytest.raises(DataError, match="does not exist"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "none.npz"))).load()


def test_pt_graph_loads_and_a_hostile_pickle_is_refused(tmp_path):
    from torch_geometric.data import Data

    arrays = {k: torch.as_tensor(v) for k, v in _arrays().items()}
    good = tmp_path / "g.pt"
    torch.save(Data(**arrays), good)
    data = GraphFile(GraphFileConfig(path=str(good))).load()
    assert data.x.shape == (30, 5) and len(data.test_idx) == 6

    marker = tmp_path / "pwned"

    class Hostile:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Hostile()}, evil)
    with pytest.raises(DataError, match="not a PyG Data file that loads safely"):
        GraphFile(GraphFileConfig(path=str(evil))).load()
    assert not marker.exists()


def test_pyg_offline_without_files_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="no files in .*Cora") as err:
        PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path))).load()
    assert "download = true" in err.value.hint
    assert PygNodeSet(PygConfig(dataset="photo", root=str(tmp_path))).folder().name == "Photo"


def _planetoid_cache(tmp_path) -> None:
    """A cache folder laid out as PyG leaves it after downloading Cora (raw files + processed/data.pt)."""
    from torch_geometric.data import Data, InMemoryDataset

    folder = tmp_path / "Cora"
    (folder / "raw").mkdir(parents=True)
    for name in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        (folder / "raw" / f"ind.cora.{name}").write_bytes(b"")
    n = 12
    ring = torch.arange(n)
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][:4], masks["val_mask"][4:8], masks["test_mask"][8:] = True, True, True
    (folder / "processed").mkdir()
    InMemoryDataset.save([Data(x=torch.randn(n, 7), edge_index=torch.stack([ring, (ring + 1) % n]), y=ring % 3, **masks)],
                         str(folder / "processed" / "data.pt"))


def test_pyg_reads_a_planetoid_cache_offline_with_its_public_split(tmp_path):
    _planetoid_cache(tmp_path)
    data = PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path))).load()
    assert data.x.shape == (12, 7) and data.num_classes == 3 and data.name == "cora"
    assert data.train_idx.tolist() == [0, 1, 2, 3] and data.valid_idx.tolist() == [4, 5, 6, 7]
    assert data.test_idx.tolist() == [8, 9, 10, 11]


def test_pyg_s_default_cache_is_under_automl_nas_home_and_read_under_its_lock(tmp_path, monkeypatch):
    # The default root ignored AUTOML_NAS_HOME, which moves every other default cache.
    monkeypatch.setenv("AUTOML_NAS_HOME", str(tmp_path / "home"))
    graphs = tmp_path / "home" / "data" / "graphs"
    assert PygNodeSet(PygConfig(dataset="cora")).folder() == graphs / "Cora"
    _planetoid_cache(graphs)
    from pathlib import Path

    import automl_nas_data_graph.pyg as pyg
    from automl_nas.datafetch import exclusive

    taken = []

    def recorded(root, what, **kwargs):
        taken.append((Path(root), what))
        return exclusive(root, what, **kwargs)

    monkeypatch.setattr(pyg, "exclusive", recorded)
    assert PygNodeSet(PygConfig(dataset="cora")).load().x.shape == (12, 7)
    assert taken == [(graphs, "pyg-Cora")]  # trials starting together take turns to download/process
    assert not (graphs / ".pyg-Cora.fetch.lock").exists()  # the lock file goes with the lock


class TestSbmContract(DatasetContract):
    @pytest.fixture
    def dataset(self):
        return Sbm(SbmConfig(nodes=80))


class TestGraphFileContract(DatasetContract):
    @pytest.fixture
    def dataset(self, tmp_path):
        np.savez(tmp_path / "g.npz", **_arrays())
        return GraphFile(GraphFileConfig(path=str(tmp_path / "g.npz")))


class TestPygContract(DatasetContract):
    @pytest.fixture
    def dataset(self, tmp_path):
        _planetoid_cache(tmp_path)
        return PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path)))


def test_the_node_split_options_reach_the_plugin_through_a_recipe_beside_the_host_s_train_fraction():
    """`data.train_fraction` was the host's search split and the plugin's node split at once: the
    host took it, so the plugin's never changed (and an impossible sum ran without a word)."""
    from pathlib import Path

    from automl_nas.errors import RecipeError
    from automl_nas.recipe import plan_recipe
    from automl_nas.session import open_session

    recipe = Path(__file__).resolve().parents[3] / "recipes" / "gnn-darts.toml"
    registry = open_session().registry
    plan = plan_recipe(recipe, registry, profile="quick",
                       overrides=["data.train_nodes=0.1", "data.valid_nodes=0.1", "data.train_fraction=0.7"])
    assert plan.dataset.config.train_nodes == 0.1 and plan.dataset.config.valid_nodes == 0.1
    assert plan.recipe.data.train_fraction == 0.7
    graph = Sbm(plan.dataset.config).load()
    assert len(graph.train_idx) == round(plan.dataset.config.nodes * 0.1)
    with pytest.raises(RecipeError, match=r"train_nodes \+ valid_nodes = 1.10 leaves no test nodes"):
        plan_recipe(recipe, registry, profile="quick", overrides=["data.train_nodes=0.9", "data.valid_nodes=0.2"])


def test_pyg_with_download_false_never_goes_to_the_network_for_a_partial_folder(tmp_path, monkeypatch):
    """An empty raw/ (left by a failed download) passed the folder check, and PyG then downloaded
    anyway: a DNS error from github.com with download = false."""
    def no_network(*args, **kwargs):
        raise AssertionError("PyG went to the network with download = false")

    monkeypatch.setattr("torch_geometric.data.download.download_url", no_network)
    monkeypatch.setattr("torch_geometric.datasets.planetoid.download_url", no_network, raising=False)
    (tmp_path / "Cora" / "raw").mkdir(parents=True)
    with pytest.raises(DataError, match=r"the files in .*Cora are incomplete, and download = false") as err:
        PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path))).load()
    assert "download = true" in err.value.hint
    assert not (tmp_path / "Cora" / "raw").exists()  # the next run says "no files" again, not "incomplete"


def test_a_failed_download_leaves_no_empty_raw_folder_that_validate_would_take_for_files(tmp_path, monkeypatch):
    """Offline with download = true: PyG made raw/ and failed; validate then said ok on it."""
    def offline(self):
        raise OSError("Cannot connect to host github.com:443")

    monkeypatch.setattr("torch_geometric.datasets.Planetoid.download", offline)
    with pytest.raises(DataError, match=r"could not be read from .*Cora: OSError: Cannot connect"):
        PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path), download=True)).load()
    assert not (tmp_path / "Cora" / "raw").exists()
    with pytest.raises(DataError, match="no files in"):
        PygConfig(dataset="cora", root=str(tmp_path), download=False).preflight("pyg")


def test_a_graph_file_with_stray_labels_or_nan_features_is_a_data_error(tmp_path):
    """Labels 5..7 ran with a 8-way classifier; NaN features ran to a "non-finite loss" run error
    after the run directory existed."""
    n = 12
    ring = np.arange(n)
    edges = np.stack([ring, (ring + 1) % n])
    np.savez(tmp_path / "labels.npz", x=np.ones((n, 3), np.float32), edge_index=edges, y=ring % 3 + 5)
    with pytest.raises(DataError, match=r"not the class indices 0..K-1: they go up to 7 but 5 of those values never occur"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "labels.npz"))).load()
    x = np.ones((n, 3), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, edge_index=edges, y=ring % 3)
    with pytest.raises(DataError, match=r"x holds 1 non-finite feature value"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "nan.npz"))).load()


def test_masks_of_another_graph_or_overlapping_splits_are_data_errors(tmp_path):
    """A train_mask longer than the graph was an internal IndexError; masks that share nodes trained
    the weights on the nodes that choose the architecture, without a word."""
    arrays = _arrays()
    idx = np.arange(30)
    long = {"train_mask": np.arange(60) < 10, "val_mask": (idx >= 10) & (idx < 20), "test_mask": idx >= 20}
    np.savez(tmp_path / "long.npz", **arrays, **long)
    with pytest.raises(DataError, match=r"long\.npz: train_mask has 60 entries for 30 nodes") as err:
        GraphFile(GraphFileConfig(path=str(tmp_path / "long.npz"))).load()
    assert "train_mask" in err.value.hint
    shared = {"train_mask": idx < 15, "val_mask": (idx >= 10) & (idx < 20), "test_mask": idx >= 20}
    np.savez(tmp_path / "shared.npz", **arrays, **shared)
    with pytest.raises(DataError, match=r"the splits share nodes \(5 in both train and valid\); they must be disjoint"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "shared.npz"))).load()
    halves = {"train_mask": (idx < 10) * 0.5, "val_mask": (idx >= 10) & (idx < 20), "test_mask": idx >= 20}
    np.savez(tmp_path / "halves.npz", **arrays, **halves)  # 0.5 counted as in
    with pytest.raises(DataError, match=r"graph-file: .*halves\.npz: train_mask holds values other than 0 and 1"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "halves.npz"))).load()
    leak = {"train_mask": idx < 10, "val_mask": (idx >= 10) & (idx < 20), "test_mask": idx >= 5}
    np.savez(tmp_path / "leak.npz", **arrays, **leak)
    with pytest.raises(DataError, match=r"graph-file: .*leak\.npz: the splits share nodes \(5 in both train and test, 10 in both valid "
                                        r"and test\)"):
        GraphFile(GraphFileConfig(path=str(tmp_path / "leak.npz"))).load()


def test_validate_finds_missing_graph_files_as_run_does(tmp_path):
    """``validate`` said ok for a missing graph file or an offline PyG set without files; ``run``
    then refused."""
    import subprocess
    import sys
    from pathlib import Path

    automl = str(Path(sys.executable).parent / "automl")
    recipe = Path(__file__).resolve().parents[3] / "recipes" / "gnn-darts.toml"
    env = {"AUTOML_NAS_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    cases = {
        'data.download=false': r"pyg data set 'cora': no files in .*Cora",
        'data={name="graph-file", path="none.npz", split="dataset"}': r"graph-file: .*none\.npz does not exist",
        'data={name="graph-file", path="g.csv", split="dataset"}': r"graph-file: .*g\.csv is neither \.npz nor \.pt",
    }
    (tmp_path / "g.csv").write_text("x\n")
    import re

    for override, message in cases.items():
        proc = subprocess.run([automl, "validate", str(recipe), "--set", override], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 4, (override, proc.stdout, proc.stderr)
        assert re.search(rf"gnn-darts\.toml: data: {message}", proc.stderr), proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_damaged_processed_folder_is_named_with_its_removal_as_the_fix(tmp_path):
    """PyG reads processed/ whenever it is there and never downloads again: the hint to check the
    internet connection could not help."""
    _planetoid_cache(tmp_path)
    for name in ("data.pt", "pre_transform.pt", "pre_filter.pt"):
        (tmp_path / "Cora" / "processed" / name).write_bytes(b"\x00garbage")
    for download in (False, True):
        with pytest.raises(DataError, match=r"could not be read from .*Cora") as err:
            PygNodeSet(PygConfig(dataset="cora", root=str(tmp_path), download=download)).load()
        assert err.value.hint.startswith(f"remove {tmp_path / 'Cora' / 'processed'} (PyG rebuilds it from raw/")
