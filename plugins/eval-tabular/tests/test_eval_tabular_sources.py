"""The NATS-Bench adapter on tiny files in the API's own format, and the AnalogNAS-Bench reader."""

from __future__ import annotations

import pickle

import pytest

from automl_nas.api import Genotype
from automl_nas.errors import DataError
from automl_nas_eval_tabular.analog import AnalogNasBench, analog_to_text, load_analog
from automl_nas_eval_tabular.config import AnalogConfig, NatsConfig
from automl_nas_eval_tabular.nats import NatsBench


ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
]
# (arch index, dataset) -> per-seed final test accuracies
ACC = {(0, "cifar10"): (94.0, 94.5), (1, "cifar10"): (54.0, 54.6),
       (0, "cifar100"): (73.0, 74.0), (1, "cifar100"): (15.0, 16.0)}


def _results(index: int, hp: str):
    from nats_bench.api_utils import ArchResults, ResultsCount

    epochs = 2
    arch = ArchResults(index, ARCHS[index])
    for dataset, sets in (("cifar10", ("ori-test",)), ("cifar100", ("x-valid", "x-test", "ori-test"))):
        for seed, acc in zip((777, 888), ACC[(index, dataset)]):
            shift = 0.0 if hp == "200" else -10.0
            rc = ResultsCount(dataset, None, {e: 50.0 for e in range(epochs)}, {e: 1.0 for e in range(epochs)},
                              0.1, 10.0, {"arch_str": ARCHS[index]}, seed, epochs, None)
            accs = {f"{s}@{e}": (acc + shift if e == epochs - 1 else 0.0) for s in sets for e in range(epochs)}
            rc.update_eval(accs, {k: 0.5 for k in accs}, {k: 1.0 for k in accs})
            arch.update(dataset, seed, rc)
    return arch.state_dict()


def _benchmark_dict():
    return {"meta_archs": list(ARCHS),
            "arch2infos": {i: {hp: _results(i, hp) for hp in ("12", "200")} for i in range(len(ARCHS))},
            "evaluated_indexes": list(range(len(ARCHS)))}


@pytest.fixture(scope="module")
def nats_file(tmp_path_factory):
    from nats_bench.api_utils import pickle_save

    base = tmp_path_factory.mktemp("nats") / "NATS-tss-tiny.pickle"
    pickle_save(_benchmark_dict(), str(base))  # writes <base>.pbz2, the API's format
    return str(base) + ".pbz2"


def test_nats_adapter_reads_through_the_api(nats_file):
    ev = NatsBench(NatsConfig(path=nats_file, dataset="cifar10"))
    assert ev.metrics == ("cifar10_test",)
    assert ev.evaluate(Genotype("nb201", ARCHS[0])) == {"cifar10_test": pytest.approx(94.25)}
    assert ev.evaluate(Genotype("nb201", ARCHS[1])) == {"cifar10_test": pytest.approx(54.3)}
    c100 = NatsBench(NatsConfig(path=nats_file, dataset="cifar100"))
    assert c100.evaluate(Genotype("nb201", ARCHS[0])) == {"cifar100_test": pytest.approx(73.5)}
    short = NatsBench(NatsConfig(path=nats_file, dataset="cifar100", hp="12"))
    assert short.evaluate(Genotype("nb201", ARCHS[1])) == {"cifar100_test": pytest.approx(5.5)}


def test_nats_adapter_reads_nb201_pth_layout(nats_file, tmp_path):
    import torch

    torch.save(_benchmark_dict(), tmp_path / "NAS-Bench-201-tiny.pth")
    ev = NatsBench(NatsConfig(path=str(tmp_path / "NAS-Bench-201-tiny.pth")))
    assert ev.evaluate(Genotype("nb201", ARCHS[0])) == {"cifar10_test": pytest.approx(94.25)}


def test_nats_adapter_reads_the_official_nb201_less_full_layout(tmp_path):
    """NAS-Bench-201 v1.0/v1.1 .pth files key results "less"/"full" (written here with nas_201_api's classes)."""
    from automl_nas_eval_tabular import synthetic as syn

    path = syn.write_nb201_pth(tmp_path / "NAS-Bench-201-v1_1-tiny.pth", 2)
    cell = Genotype("nb201", syn.archs(2)[1])
    full = NatsBench(NatsConfig(path=str(path), dataset="cifar100")).evaluate(cell)
    assert full == {"cifar100_test": pytest.approx(syn.expected_row(1)["cifar100"])}
    short = NatsBench(NatsConfig(path=str(path), dataset="cifar100", hp="12")).evaluate(cell)
    assert short["cifar100_test"] == pytest.approx(syn.expected_row(1)["cifar100"] - 5.0)


def test_nats_errors(nats_file, tmp_path):
    ev = NatsBench(NatsConfig(path=nats_file))
    other = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(DataError, match="is not in"):
        ev.evaluate(Genotype("nb201", other))
    with pytest.raises(DataError, match="ImageNet16-120"):
        NatsBench(NatsConfig(path=nats_file, dataset="ImageNet16-120")).evaluate(Genotype("nb201", ARCHS[0]))
    (tmp_path / "junk.pbz2").write_bytes(b"not bz2")
    with pytest.raises(DataError, match="could not be opened"):
        NatsBench(NatsConfig(path=str(tmp_path / "junk.pbz2"))).evaluate(Genotype("nb201", ARCHS[0]))


def test_nats_missing_package_says_pip_install(monkeypatch):
    import sys

    from automl_nas.errors import PluginError
    from automl_nas_eval_tabular import nats

    monkeypatch.setitem(sys.modules, "nats_bench", None)  # makes `import nats_bench` raise ImportError
    with pytest.raises(PluginError, match="pip install nats_bench"):
        nats._import_nats()


# ---- AnalogNAS-Bench ----

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def test_analog_mapping_edge_order():
    # positions (1<-0, 2<-0, 3<-0, 2<-1, 3<-1, 3<-2); ids 0 skip, 1 none, 2 conv3, 3 conv1, 4 pool
    assert analog_to_text((2, 2, 0, 2, 3, 2)) == BEST
    assert analog_to_text((4, 3, 2, 1, 0, 2)) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|")


def test_analog_known_cells_and_best():
    ev = AnalogNasBench()
    table = ev.table()
    assert len(table) == 15625  # every tuple maps to a distinct canonical string
    best = max(table, key=lambda k: table[k]["cifar10_analog"])
    assert best == BEST and table[best]["cifar10_analog"] == pytest.approx(94.0664)
    known = {
        "|none~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|": (91.7656, 88.8412),
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|skip_connect~1|nor_conv_3x3~2|": (91.5396, 86.8912),
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|": (60.7836, 57.49),
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": (10.0, 10.0),
    }
    for text, (base, hw) in known.items():
        out = ev.evaluate(Genotype("nb201", text))
        assert set(out) == set(ev.metrics)
        assert out["cifar10_analog"] == pytest.approx(base, abs=1e-9)
        assert out["cifar10_analog_hw"] == pytest.approx(hw, abs=1e-9)


def test_analog_reader_refuses_other_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    (tmp_path / "evil.anb").write_bytes(pickle.dumps({(0,) * 6: Evil()}))
    with pytest.raises(DataError, match="not allowed"):
        load_analog(str(tmp_path / "evil.anb"))
    with pytest.raises(DataError, match="does not exist"):
        AnalogNasBench(AnalogConfig(path=str(tmp_path / "nope.anb"))).table()
