"""``analog-nasbench``: AnalogNAS-Bench accuracies of NAS-Bench-201 cells.

Source: the PyPI package ``analog-nasbench`` (0.1.3; IBM's AnalogNAS-Bench, all
15,625 NB201 cells trained on CIFAR-10 and evaluated digitally, quantised and
on simulated analog in-memory hardware). Its data file ``data.anb`` is a pickle
of ``{op tuple: analognasbench.data.Architecture}`` whose drift fields are
``DriftMeasurement`` objects.

Reading: the package's own loader imports pandas and ``pkg_resources`` and
calls ``pickle.load`` unrestricted. Here a ``pickle.Unpickler`` whose
``find_class`` resolves only those two class names -- to inert local records
that just receive their attribute dict -- reads the file; anything else in the
stream is refused, so no code named by the file runs. The package is located
with ``importlib.util.find_spec`` (not imported).

Encoding (the package's): op ids 0 = skip_connect, 1 = none, 2 = nor_conv_3x3,
3 = nor_conv_1x1, 4 = avg_pool_3x3; tuple positions are the edges
(1<-0, 2<-0, 3<-0, 2<-1, 3<-1, 3<-2), which differs from the canonical string's
edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas.errors import DataError, missing_file
from automl_nas.safe_pickle import restricted_load
from automl_nas_eval_tabular.config import AnalogConfig
from automl_nas_eval_tabular.nb201_text import EDGES, OPS, canonical_text, format_ops

__all__ = ["ANALOG_EDGES", "ANALOG_OPS", "AnalogNasBench", "analog_to_text", "default_data_path", "load_analog"]

ANALOG_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
ANALOG_EDGES = ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
# canonical edge e takes tuple position _POSITION[e]
_POSITION = tuple(ANALOG_EDGES.index(edge) for edge in EDGES)

# metric key -> Architecture attribute (accuracies in percent on CIFAR-10)
FIELDS = {
    "cifar10_analog": "baseline_accuracy",
    "cifar10_analog_ptq": "ptq_accuracy",
    "cifar10_analog_qat": "qat_accuracy",
    "cifar10_analog_noisy": "noisy_accuracy",
    "cifar10_analog_hw": "analog_accuracy",
}
DRIFTS = {f"cifar10_analog_drift_{t}s": f"analog_drift_{t}" for t in (60, 3600, 86400, 2592000)}


class _Record:
    """Inert stand-in for the package's classes: pickle's BUILD fills ``__dict__``."""


class _Architecture(_Record):
    pass


class _DriftMeasurement(_Record):
    pass


# The package's record classes, replaced by plain stand-ins (its module is never imported).
_ALLOWED = {("analognasbench.data", "Architecture"): _Architecture,
            ("analognasbench.data", "DriftMeasurement"): _DriftMeasurement}


def analog_to_text(arch: tuple[int, ...]) -> str:
    """The canonical NB201 string of an AnalogNAS-Bench op tuple."""
    return format_ops(tuple(OPS.index(ANALOG_OPS[arch[p]]) for p in _POSITION))


def default_data_path() -> Path:
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("analog-nasbench: the package analog-nasbench is not installed",
                        hint="pip install analog-nasbench, or set `path = ...` to its data.anb file")
    return Path(next(iter(spec.submodule_search_locations))) / "data.anb"


def _value(obj: Any) -> float:
    return float(obj.__dict__["value"]) if isinstance(obj, _Record) else float(obj)


@functools.lru_cache(maxsize=2)
def load_analog(path: str) -> dict[str, dict[str, float]]:
    """``{canonical string: {metric: value}}`` read safely from ``path`` (cached)."""
    fix = "reinstall analog-nasbench or set `path = ...` to an intact data.anb"
    try:
        with open(path, "rb") as fh:
            raw = restricted_load(fh, _ALLOWED, what="an AnalogNAS-Bench file")
    except FileNotFoundError:
        raise DataError(f"analog-nasbench: {missing_file(path)}", hint=fix) from None
    except Exception as exc:
        raise DataError(f"analog-nasbench: {path} is not a readable AnalogNAS-Bench file "
                        f"({type(exc).__name__}: {exc})", hint=fix) from exc
    if not isinstance(raw, dict):
        raise DataError(f"analog-nasbench: {path} holds a {type(raw).__name__}, expected a dict", hint=fix)
    table: dict[str, dict[str, float]] = {}
    for arch, record in raw.items():
        fields = record.__dict__
        row = {key: float(fields[attr]) for key, attr in FIELDS.items()}
        row.update({key: _value(fields[attr]) for key, attr in DRIFTS.items()})
        table[analog_to_text(tuple(arch))] = row
    return table


class AnalogNasBench(Evaluator):
    """CIFAR-10 accuracies of an NB201 cell from AnalogNAS-Bench (``cifar10_analog`` = baseline)."""

    name = "analog-nasbench"
    metrics = tuple(FIELDS) + tuple(DRIFTS)

    def __init__(self, config: AnalogConfig | None = None) -> None:
        self.config = config or AnalogConfig()

    def table(self) -> dict[str, dict[str, float]]:
        path = Path(self.config.path).expanduser() if self.config.path else default_data_path()
        return load_analog(str(path))

    def check(self, space: Any, data: Any) -> None:
        from automl_nas_eval_tabular.table import check_nb201_space

        check_nb201_space(self.name, space)

    def evaluate(self, genotype: Genotype, ctx: EvalContext | None = None) -> dict[str, float]:
        try:
            text = canonical_text(genotype)
        except ValueError as exc:
            raise DataError(f"analog-nasbench: {exc}", hint="evaluate genotypes of the nb201 search space") from exc
        table = self.table()
        if text not in table:
            raise DataError(f"analog-nasbench: architecture {text} is not in the benchmark",
                            hint="reinstall analog-nasbench (its file covers all 15,625 cells)")
        return dict(table[text])
