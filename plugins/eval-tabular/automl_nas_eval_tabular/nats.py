"""``nats-bench``: adapter for the official NATS-Bench / NAS-Bench-201 API files.

Source: Dong et al., "NATS-Bench: Benchmarking NAS Algorithms for Architecture
Topology and Size" (TPAMI 2021, arXiv:2009.00437) and its API package
``nats_bench`` (github D-X-Y/NATS-Bench), topology search space ("tss").
The reported value is ``get_more_info(index, dataset, hp=hp, is_random=False)
["test-accuracy"]``: the mean over the benchmark's seeds of the final-epoch
test accuracy (CIFAR-10: the original test set; CIFAR-100 and ImageNet16-120:
the "x-test" half), the convention of the NATS-Bench README.

Accepted ``path``: a ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` file, its
``...-simple`` directory (loaded lazily per architecture, ``fast_mode``), or
a NAS-Bench-201 ``.pth`` file (a dict with ``meta_archs``/``arch2infos``/
``evaluated_indexes``, loaded with ``torch.load(weights_only=True)`` and handed
to the same API). ``nats_bench`` is an optional dependency, imported lazily.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from automl_nas.api import EvalContext, Evaluator, Genotype
from automl_nas.errors import DataError, PluginError, RecipeError, missing_file
from automl_nas_eval_tabular.config import NatsConfig
from automl_nas_eval_tabular.nb201_text import canonical_text

__all__ = ["NatsBench", "open_api"]


def _import_nats() -> Any:
    try:
        import nats_bench
    except ImportError as exc:
        raise PluginError("evaluator nats-bench needs the optional package nats_bench, which is not installed",
                          plugin="eval-tabular", dist="automl-nas-eval-tabular",
                          hint="pip install nats_bench") from exc
    return nats_bench


@functools.lru_cache(maxsize=4)
def open_api(path: str) -> Any:
    """The NATS topology API for ``path`` (cached: the full file takes minutes to load)."""
    nats_bench = _import_nats()
    p = Path(path)
    try:
        if p.is_dir():
            return nats_bench.create(str(p), "tss", fast_mode=True, verbose=False)
        if p.suffix == ".pth":
            import torch

            data = torch.load(str(p), map_location="cpu", weights_only=True)
            return nats_bench.create(_nb201_hp_keys(data), "tss", verbose=False)
        return nats_bench.create(str(p), "tss", fast_mode=False, verbose=False)
    except Exception as exc:  # the API raises ValueError/AssertionError/pickle errors on bad files
        raise DataError(f"nats-bench: {p} could not be opened by the NATS-Bench API ({type(exc).__name__}: {exc})",
                        hint="point `path` at NATS-tss-v1_0-3ffb9.pickle.pbz2, its '-simple' directory, "
                             "or NAS-Bench-201-v1_1-096897.pth") from exc


def _nb201_hp_keys(data: Any) -> Any:
    """NAS-Bench-201 v1.0/v1.1 files key each architecture's results ``"less"`` (12 epochs) and
    ``"full"`` (200 epochs), as ``nas_201_api`` reads them; the NATS-Bench API wants ``"12"``/``"200"``."""
    if isinstance(data, dict) and isinstance(data.get("arch2infos"), dict):
        rename = {"less": "12", "full": "200"}
        data["arch2infos"] = {i: {rename.get(k, k): v for k, v in entry.items()} for i, entry in data["arch2infos"].items()}
    return data


class NatsBench(Evaluator):
    """Test accuracy of a NAS-Bench-201 cell from the official benchmark files."""

    name = "nats-bench"

    def __init__(self, config: NatsConfig | None = None) -> None:
        self.config = config or NatsConfig()
        self.metrics = (f"{self.config.dataset}_test",)

    def evaluate(self, genotype: Genotype, ctx: EvalContext | None = None) -> dict[str, float]:
        if self.config.path is None:
            raise RecipeError("evaluator nats-bench: no benchmark file given",
                              hint="set `path = ...` to the NATS-Bench topology file or directory")
        path = Path(self.config.path).expanduser()
        if not path.exists():
            raise DataError(f"nats-bench: {missing_file(path)}",
                            hint="download the NATS-Bench topology file and set `path = ...`")
        try:
            text = canonical_text(genotype)
        except ValueError as exc:
            raise DataError(f"nats-bench: {exc}", hint="evaluate genotypes of the nb201 search space") from exc
        api = open_api(os.fspath(path.resolve()))
        index = api.query_index_by_arch(text)
        if index < 0:
            raise DataError(f"nats-bench: architecture {text} is not in {path}",
                            hint="use the complete benchmark file")
        try:
            info = api.get_more_info(index, self.config.dataset, hp=self.config.hp, is_random=False)
        except (KeyError, ValueError) as exc:
            raise DataError(f"nats-bench: {path} has no {self.config.dataset!r} results with hp={self.config.hp} "
                            f"for {text} ({type(exc).__name__}: {exc})",
                            hint="choose `dataset`/`hp` values the file contains") from exc
        if "test-accuracy" not in info:
            raise DataError(f"nats-bench: {path} has no test accuracy for {self.config.dataset!r}",
                            hint="choose another `dataset`")
        return {self.metrics[0]: float(info["test-accuracy"])}
