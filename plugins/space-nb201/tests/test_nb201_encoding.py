"""NB201 encoding: op/edge order, canonical strings, ids, the benchmark CSV (spec §10.1.1, .2, .4)."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from automl_nas.api.arch import Genotype
from automl_nas_space_nb201 import encoding
from automl_nas_space_nb201.config import Nb201Config
from automl_nas_space_nb201.hooks import automl_parse_genotype, automl_register_search_spaces

CSV_PATH = Path(__file__).resolve().parents[4] / "shared" / "benchmarks" / "nb201-test-accuracy.csv"  # ../shared beside the clone
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def csv_rows() -> dict[str, tuple[float, float, float]]:
    with CSV_PATH.open(newline="") as f:
        return {r["arch"]: (float(r["cifar10"]), float(r["cifar100"]), float(r["ImageNet16-120"]))
                for r in csv.DictReader(f)}


def test_op_and_edge_order():
    assert encoding.OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert encoding.EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert encoding.EDGE_LABELS == ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")
    assert encoding.NUM_ARCHS == 15625


def test_format_examples():
    assert encoding.format_ops([3, 3, 3, 1, 3, 3]) == BEST
    assert encoding.format_ops([1] * 6) == ALL_SKIP
    assert encoding.parse_ops(BEST) == (3, 3, 3, 1, 3, 3)


def test_id_order_is_mixed_radix_edge0_most_significant():
    assert encoding.id_to_ops(0) == (0,) * 6
    assert encoding.id_to_ops(1) == (0, 0, 0, 0, 0, 1)
    assert encoding.id_to_ops(5**5) == (1, 0, 0, 0, 0, 0)
    assert encoding.id_to_ops(15624) == (4,) * 6
    assert encoding.ops_to_id((3, 3, 3, 1, 3, 3)) == 3 * 3125 + 3 * 625 + 3 * 125 + 1 * 25 + 3 * 5 + 3


def test_round_trip_all_cells_and_csv_set(csv_rows):
    strings = set()
    for index, ops in enumerate(itertools.product(range(5), repeat=6)):
        text = encoding.format_ops(ops)
        assert encoding.parse_ops(text) == ops
        assert encoding.ops_to_id(ops) == index
        assert encoding.id_to_ops(index) == ops
        assert encoding.str_to_id(text) == index and encoding.id_to_str(index) == text
        strings.add(text)
    assert len(strings) == 15625
    assert strings == set(csv_rows)
    for arch in csv_rows:  # parse(format(x)) == x for every CSV row
        assert encoding.format_ops(encoding.parse_ops(arch)) == arch


def test_benchmark_lookup_of_spec_strings(csv_rows):
    assert csv_rows[BEST] == (94.3633, 73.5133, 46.3444)
    assert csv_rows[ALL_SKIP] == (54.2967, 15.6067, 16.3222)


@pytest.mark.parametrize(("text", "message"), [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", None),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read from input 0"),
    ("|none~0|+|none~0|none~1|", "3 node groups"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2 input edge"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped in"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "'op~input'"),
])
def test_parse_errors_say_what_is_wrong(text, message):
    if message is None:
        assert encoding.parse_ops(text) == (0,) * 6
        return
    with pytest.raises(ValueError, match=message):
        encoding.parse_ops(text)


def test_unknown_op_lists_allowed_names():
    with pytest.raises(ValueError, match="allowed: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"):
        encoding.parse_ops(BEST.replace("skip_connect", "skip"))


@pytest.mark.parametrize("bad", [(0,) * 5, (0, 0, 0, 0, 0, 5), (0, 0, 0, 0, 0, -1), (0.0,) * 6])
def test_bad_op_tuples(bad):
    with pytest.raises(ValueError):
        encoding.ops_to_id(bad)


@pytest.mark.parametrize("bad", [-1, 15625, 1.0, True])
def test_bad_ids(bad):
    with pytest.raises(ValueError, match="0..15624"):
        encoding.id_to_ops(bad)


def test_hooks_are_light_and_parse_genotype():
    (component,) = automl_register_search_spaces()
    assert (component.kind, component.name, component.config) == ("search_space", "nb201", Nb201Config)
    assert component.impl == "automl_nas_space_nb201.space:Nb201Space"
    assert automl_parse_genotype(" " + BEST + "\n") == Genotype("nb201", BEST)
    assert automl_parse_genotype("Genotype(normal=[('sep_conv_3x3', 0)])") is None


def test_config_validation():
    assert Nb201Config() == Nb201Config(channels=16, cells_per_stage=5, affine=False,
                                        track_running_stats=False, partial_channels=1)
    Nb201Config(channels=16, partial_channels=4)
    with pytest.raises(ValueError, match="must divide channels=16"):
        Nb201Config(channels=16, partial_channels=3)
    for bad in ({"channels": 0}, {"cells_per_stage": -1}, {"partial_channels": 0}):
        with pytest.raises(ValueError):
            Nb201Config(**bad)
    with pytest.raises(TypeError):
        Nb201Config(affine=1)
    for field in Nb201Config.__attrs_attrs__:
        assert field.metadata["help"]


def test_hooks_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, automl_nas_space_nb201.hooks; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
