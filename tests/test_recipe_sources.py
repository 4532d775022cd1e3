"""Issue 18: every shipped recipe's hyper-parameters pinned to the official script they come from.

Each pin is (recipe key, value, source). A source is ``"<repo>@<path>:<line>"`` (line or range of
the commit in ``REPOS``), followed after `` | `` by the text found there, so a reviewer can check it
without running anything; a value with no official script says why instead (``"own: ..."``).
The test reads the resolved recipe (plugin defaults included), so changing a value in a recipe,
or a default a recipe relies on, fails here with the source to compare against.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
import pytest

from automl_nas.recipe import plan_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

REPOS = {  # the commits the lines below were read at
    "AutoDL": "D-X-Y/AutoDL-Projects@f46486e21b71ae6459a700be720d7648b5429569",
    "SNAS": "SNAS-Series/SNAS-Series@9a43adbdf90d4969b19e448c0d094091bc5efb4f",
    "DrNAS": "xiangning-chen/DrNAS@f2caa4dbdd96c1be29b56cb7ed47a74a184e6ef0",
}

# ---------------------------------------------------------------- shared sources

_DARTS_CFG = "AutoDL@configs/nas-benchmark/algos/DARTS.config"
_GDAS_CFG = "AutoDL@configs/nas-benchmark/algos/GDAS.config"
_GDAS_NASNET_OPT = "AutoDL@configs/search-opts/GDAS-NASNet-CIFAR.config"
_GDAS_SH = "AutoDL@scripts-search/NAS-Bench-201-algos/GDAS.sh"
_DARTS_SH = "AutoDL@scripts-search/NAS-Bench-201-algos/DARTS-V1.sh"
_GDAS_NASNET_SH = "AutoDL@scripts-search/NASNet-space-search-by-GDAS.sh"
_AUTODL_SPLIT = ("AutoDL@xautodl/datasets/get_dataset_with_transform.py:248-254 | "
                 "cifar10: cifar-split.txt train/valid (a fixed random half each)")
_ADAM_BETAS_GDAS = "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:172-177 | torch.optim.Adam(..., betas=(0.5, 0.999), ...)"
_SNAS_TS = "SNAS@SNAS/train_search.py"
_DARTS_TS = "SNAS@Analysis/darts/cnn/train_search.py"
_DRNAS_201 = "DrNAS@201-space/train_search.py"
_DRNAS_201P = "DrNAS@201-space/train_search_progressive.py"
_DRNAS_DS = "DrNAS@DARTS-space/train_search.py"
_DRNAS_ARCH = "DrNAS@architect.py:17-22 | l2: weight_decay = args.reg_scale; Adam(lr=args.arch_learning_rate, betas=(0.5, 0.999))"

W = "search.weights_optimizer."
A = "search.arch_optimizer."


def _autodl_nb201(cfg: str, sh: str, script: str, clip_line: str, order_lines: str) -> list[tuple[str, object, str]]:
    """The AutoDL NAS-Bench-201 loop shared by DARTS-V1 and GDAS (config + shell script)."""
    return [
        (W + "lr", 0.025, f"{cfg}:3 | \"LR\": 0.025"),
        (W + "lr_min", 0.001, f"{cfg}:4 | \"eta_min\": 0.001"),
        (W + "weight_decay", 5e-4, f"{cfg}:8 | \"decay\": 0.0005"),
        (W + "momentum", 0.9, f"{cfg}:9 | \"momentum\": 0.9"),
        (W + "nesterov", True, f"{cfg}:10 | \"nesterov\": 1"),
        ("data.batch_size", 64, f"{cfg}:12 | \"batch_size\": 64"),
        (W + "grad_clip", 5.0, f"AutoDL@exps/NAS-Bench-201-algos/{script}:{clip_line}"),
        (W + "clip_arch_grad", True, f"AutoDL@exps/NAS-Bench-201-algos/{script}:{clip_line} | clip_grad_norm_(network.parameters(), ...), "
                                     "alphas are nn.Parameters of the network (search_model_darts.py:60, search_model_gdas.py:60)"),
        (A + "name", "adam", f"AutoDL@exps/NAS-Bench-201-algos/{script} | torch.optim.Adam"),
        (A + "lr", 3e-4, f"{sh}:42 | --arch_learning_rate 0.0003"),
        (A + "weight_decay", 1e-3, f"{sh}:42 | --arch_weight_decay 0.001"),
        (A + "betas", (0.5, 0.999), _ADAM_BETAS_GDAS),
        (A + "grad_clip", 0.0, f"AutoDL@exps/NAS-Bench-201-algos/{script}:{order_lines} | no clip before a_optimizer.step()"),
        ("search.order", "weights_first", f"AutoDL@exps/NAS-Bench-201-algos/{script}:{order_lines} | w_optimizer.step(), then a_optimizer.step()"),
        ("space.channels", 16, f"{sh}:20 | channel=16"),
        ("space.cells_per_stage", 5, f"{sh}:21 | num_cells=5"),
        ("space.track_running_stats", False, f"{sh}:2 | documented command: <script>.sh cifar10 0 -1 (BN argument 0)"),
        ("data.split", "random", _AUTODL_SPLIT),
    ]


def _drnas_201(script: str, extra: list) -> list[tuple[str, object, str]]:
    return [
        ("data.batch_size", 64, f"{script}:34 | --batch_size default=64"),
        (W + "lr", 0.025, f"{script}:35 | --learning_rate default=0.025"),
        (W + "lr_min", 0.001, f"{script}:36 | --learning_rate_min default=0.001"),
        (W + "momentum", 0.9, f"{script}:37 | --momentum default=0.9"),
        (W + "nesterov", False, f"{_DRNAS_201}:153-157 | torch.optim.SGD(..., momentum=args.momentum, weight_decay=...) (no nesterov)"),
        (W + "weight_decay", 3e-4, f"{script}:38 | --weight_decay default=3e-4"),
        (A + "name", "adam", _DRNAS_ARCH),
        (A + "betas", (0.5, 0.999), _DRNAS_ARCH),
        (A + "weight_decay", 1e-3, _DRNAS_ARCH + " (reg_scale default 1e-3)"),
        ("data.split", "halves", f"{script} | split = int(np.floor(args.train_portion * num_train)); indices[:split] (train_portion 0.5)"),
        ("search.order", "arch_first", f"{script} | architect.step(...) before the weight loss.backward(); optimizer.step()"),
        ("space.channels", 16, f"{script} | --init_channels default=16"),
        ("space.cells_per_stage", 5, f"{script} | TinyNetwork(C=args.init_channels, N=5, ...)"),
        *extra,
    ]


PINS: dict[str, list[tuple[str, object, str]]] = {
    "darts-nb201": _autodl_nb201(_DARTS_CFG, _DARTS_SH, "DARTS-V1.py", "57-58", "53-73") + [
        ("search.epochs", 50, f"{_DARTS_CFG}:5 | \"epochs\": 50"),
        ("search.sampler.name", "darts", "AutoDL@exps/NAS-Bench-201-algos/DARTS-V1.py | first order (no unrolled step)"),
        ("search.second_order", False, "AutoDL@exps/NAS-Bench-201-algos/DARTS-V1.py:69-73 | arch_loss.backward(); a_optimizer.step()"),
        ("search.mode", "bilevel", "AutoDL@exps/NAS-Bench-201-algos/DARTS-V1.py:53-73"),
    ],
    "gdas": _autodl_nb201(_GDAS_CFG, _GDAS_SH, "GDAS.py", "54", "50-69") + [
        ("search.epochs", 250, f"{_GDAS_CFG}:5 | \"epochs\": 250"),
        ("search.sampler.temperature.start", 10.0, f"{_GDAS_SH}:41 | --tau_max 10"),
        ("search.sampler.temperature.end", 0.1, f"{_GDAS_SH}:41 | --tau_min 0.1"),
        ("search.sampler.temperature.kind", "linear", "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:237-238 | tau_max - (tau_max - tau_min) * epoch / (total_epoch - 1)"),
    ],
    "gdas-darts": [
        (W + "lr", 0.025, f"{_GDAS_NASNET_OPT}:3 | \"LR\": 0.025"),
        (W + "lr_min", 0.001, f"{_GDAS_NASNET_OPT}:4 | \"eta_min\": 0.001"),
        ("search.epochs", 250, f"{_GDAS_NASNET_OPT}:5 | \"epochs\": 250"),
        (W + "weight_decay", 5e-4, f"{_GDAS_NASNET_OPT}:8 | \"decay\": 0.0005"),
        (W + "momentum", 0.9, f"{_GDAS_NASNET_OPT}:9 | \"momentum\": 0.9"),
        (W + "nesterov", True, f"{_GDAS_NASNET_OPT}:10 | \"nesterov\": 1"),
        ("data.batch_size", 256, f"{_GDAS_NASNET_OPT}:12 | \"batch_size\": 256"),
        (W + "grad_clip", 5.0, "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:54 | clip_grad_norm_(network.parameters(), 5)"),
        (W + "clip_arch_grad", True, "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:54 | network.parameters() holds the alphas "
                                     "(search_model_gdas_nasnet.py:80-85 nn.Parameter)"),
        (A + "name", "adam", _ADAM_BETAS_GDAS),
        (A + "betas", (0.5, 0.999), _ADAM_BETAS_GDAS),
        (A + "lr", 3e-4, f"{_GDAS_NASNET_SH}:37 | --arch_learning_rate 0.0003"),
        (A + "weight_decay", 1e-3, f"{_GDAS_NASNET_SH}:37 | --arch_weight_decay 0.001"),
        (A + "grad_clip", 0.0, "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:65-69 | no clip before a_optimizer.step()"),
        ("search.sampler.temperature.start", 10.0, f"{_GDAS_NASNET_SH}:36 | --tau_max 10"),
        ("search.sampler.temperature.end", 0.1, f"{_GDAS_NASNET_SH}:36 | --tau_min 0.1"),
        ("search.sampler.temperature.kind", "linear", "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:237-238"),
        ("search.order", "weights_first", "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:50-69 | w_optimizer.step(), then a_optimizer.step()"),
        ("space.channels", 16, "AutoDL@configs/search-archs/GDAS-NASNet-CIFAR.config:4 | \"C\": 16"),
        ("space.layers", 6, "AutoDL@configs/search-archs/GDAS-NASNet-CIFAR.config:5 | \"N\": 2, laid out as "
                            "[C]*N + [2C] + [2C]*(N-1) + [4C] + [4C]*(N-1) = 6 cells (search_model_gdas_nasnet.py:35-40)"),
        ("space.steps", 4, "AutoDL@configs/search-archs/GDAS-NASNet-CIFAR.config:6 | \"steps\": 4"),
        ("space.multiplier", 4, "AutoDL@configs/search-archs/GDAS-NASNet-CIFAR.config:7 | \"multiplier\": 4"),
        ("space.stem_multiplier", 3, "AutoDL@configs/search-archs/GDAS-NASNet-CIFAR.config:8 | \"stem_multiplier\": 3"),
        ("space.track_running_stats", True, f"{_GDAS_NASNET_SH}:2 | NASNet-space-search-by-GDAS.sh cifar10 1 -1"),
        ("space.affine", False, "AutoDL@exps/NAS-Bench-201-algos/GDAS.py:160 | \"affine\": False"),
        ("space.derivation", "top2_joint", "AutoDL@xautodl/models/cell_searchs/search_model_gdas_nasnet.py:128-143 | "
                                           "edges sorted by -weight over all (op, j); selected_edges = edges[:2]"),
        ("space.search_pool_bn", False, "AutoDL@xautodl/models/cell_operations.py:262-285 | POOLING: optional preprocess, then the pool (no BN)"),
        ("data.split", "random", _AUTODL_SPLIT),
    ],
    "darts": [
        ("data.batch_size", 64, f"{_DARTS_TS}:25 | --batch_size default=64"),
        (W + "lr", 0.025, f"{_DARTS_TS}:26 | --learning_rate default=0.025"),
        (W + "lr_min", 0.001, f"{_DARTS_TS}:27 | --learning_rate_min default=0.001"),
        (W + "momentum", 0.9, f"{_DARTS_TS}:28 | --momentum default=0.9"),
        (W + "nesterov", False, f"{_DARTS_TS}:108-112 | torch.optim.SGD(model.parameters(), lr, momentum=..., weight_decay=...)"),
        (W + "weight_decay", 3e-4, f"{_DARTS_TS}:29 | --weight_decay default=3e-4"),
        ("search.epochs", 50, f"{_DARTS_TS}:32 | --epochs default=50"),
        ("space.channels", 16, f"{_DARTS_TS}:33 | --init_channels default=16"),
        ("space.layers", 8, f"{_DARTS_TS}:36 | --layers default=8"),
        (W + "grad_clip", 5.0, f"{_DARTS_TS}:43 | --grad_clip default=5"),
        (W + "clip_arch_grad", False, f"{_DARTS_TS}:215 | clip_grad_norm_(model.parameters()); the alphas are Variables, "
                                      "not parameters (Analysis/darts/cnn/model_search.py:284-285)"),
        ("data.split", "halves", f"{_DARTS_TS}:44,119-123 | train_portion 0.5; indices[:split]"),
        ("search.second_order", True, f"{_DARTS_TS}:45 | --unrolled (the paper's second-order setting)"),
        (A + "lr", 3e-4, f"{_DARTS_TS}:47 | --arch_learning_rate default=3e-4"),
        (A + "weight_decay", 1e-3, f"{_DARTS_TS}:48 | --arch_weight_decay default=1e-3"),
        (A + "name", "adam", "SNAS@Analysis/darts/cnn/architect.py:18-19 | torch.optim.Adam(..., betas=(0.5, 0.999))"),
        (A + "betas", (0.5, 0.999), "SNAS@Analysis/darts/cnn/architect.py:18-19"),
        ("search.order", "arch_first", f"{_DARTS_TS}:193,215-216 | architect.step(...) before optimizer.step()"),
        ("space.track_running_stats", False, "SNAS@Analysis/darts/cnn/model_search.py:18 | nn.BatchNorm2d(C, affine=False) (pool BN)"),
        ("space.affine", False, "SNAS@Analysis/darts/cnn/model_search.py:39-42 | affine=False"),
        ("space.search_pool_bn", True, "SNAS@Analysis/darts/cnn/model_search.py:18 | op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))"),
        ("space.derivation", "top2", "DARTS rule (algorithms.md §2.5); model_search.py genotype()"),
    ],
    "snas-darts": [
        ("seed", 6, "SNAS@SNAS/README.md:27 | --seed 6"),
        ("search.epochs", 150, "SNAS@SNAS/README.md:27 | --epochs 150"),
        ("space.layers", 8, "SNAS@SNAS/README.md:27 | --layer 8"),
        ("space.channels", 16, "SNAS@SNAS/README.md:27 | --init_channels 16"),
        ("search.sampler.temperature.start", 1.0, "SNAS@SNAS/README.md:27 | --temp 1"),
        ("search.sampler.temperature.end", 0.03, "SNAS@SNAS/README.md:28 | --temp_min 0.03"),
        ("search.sampler.temperature.span", 150, "SNAS@SNAS/utils.py:144 | self.total_epochs = 150"),
        ("search.sampler.temperature.offset", 1, "SNAS@SNAS/train_search.py:323-325 | temp_scheduler.step() at the start of every epoch"),
        ("space.drop_path", 0.3, "SNAS@SNAS/README.md:29 | --drop_path_prob 3e-1"),
        ("data.batch_size", 64, f"{_SNAS_TS}:34 | --batch_size default=64"),
        (W + "lr", 0.025, f"{_SNAS_TS}:36 | --learning_rate default=0.025"),
        (W + "lr_min", 0.001, f"{_SNAS_TS}:37 | --learning_rate_min default=0.001"),
        (W + "momentum", 0.9, f"{_SNAS_TS}:38 | --momentum default=0.9"),
        (W + "nesterov", False, f"{_SNAS_TS}:261-266 | torch.optim.SGD(..., momentum=..., weight_decay=...)"),
        (W + "weight_decay", 3e-4, f"{_SNAS_TS}:39 | --weight_decay default=3e-4"),
        (W + "grad_clip", 5.0, f"{_SNAS_TS}:44 | --grad_clip default=5"),
        (W + "clip_arch_grad", True, f"{_SNAS_TS}:504 | clip_grad_norm_(self.model.parameters(), ...) (alphas: model_search.py:160-165 nn.Parameter)"),
        (A + "name", "sgd", f"{_SNAS_TS}:268-271 | torch.optim.SGD(self.model.arch_parameters(), lr=...) (single-GPU path)"),
        (A + "lr", 3e-4, f"{_SNAS_TS}:41 | --arch_learning_rate default=3e-4"),
        (A + "momentum", 0.0, f"{_SNAS_TS}:268-271 | no momentum"),
        (A + "weight_decay", 0.0, f"{_SNAS_TS}:268-271 | no weight decay"),
        (A + "grad_clip", 10.0, f"{_SNAS_TS}:505 | clip_grad_norm_(self.model.arch_parameters(), 10.)"),
        ("search.mode", "single_level", f"{_SNAS_TS}:489,509-512 | one loss.backward(); optimizer.step(); arch_optimizer.step()"),
        ("data.split", "halves", "single level: no arch split; the whole training set trains both (train_search.py:277, 299-302)"),
        ("space.affine", False, f"{_SNAS_TS}:48 | --bn_affine default False"),
        ("space.derivation", "edge_all", "SNAS@SNAS/README.md:42-44 | train_edge_all.py --arch SNAS_*_edge_all"),
    ],
    "drnas": _drnas_201(_DRNAS_201, [
        ("search.epochs", 100, f"{_DRNAS_201}:41 | --epochs default=100"),
        (W + "grad_clip", 5.0, f"{_DRNAS_201}:48 | --grad_clip default=5"),
        (W + "clip_arch_grad", True, f"{_DRNAS_201}:273 | clip_grad_norm_(model.parameters()) (alphas: 201-space/search_model.py:50 nn.Parameter)"),
        (A + "lr", 3e-4, f"{_DRNAS_201}:51 | --arch_learning_rate default=3e-4"),
        ("search.sampler.reg_scale", 1e-3, f"{_DRNAS_201}:59 | --reg_scale default=1e-3"),
        ("search.sampler.reg_type", "l2", f"{_DRNAS_201}:57 | --reg_type default='l2'"),
    ]),
    "drnas-progressive": _drnas_201(_DRNAS_201P, [
        ("search.epochs", 100, f"{_DRNAS_201P}:191 | train_epochs = [50, 50]"),
        ("search.sampler.stage_epochs", (50, 50), f"{_DRNAS_201P}:191 | train_epochs = [50, 50]"),
        ("search.sampler.partial_channels", (4, 2), f"{_DRNAS_201P}:189 | ks = [4, 2]"),
        ("search.sampler.keep_ops", (5, 3), f"{_DRNAS_201P}:190 | num_keeps = [5, 3]"),
        ("space.partial_channels", 4, f"{_DRNAS_201P}:53 | --k default=4"),
        (W + "grad_clip", 5.0, f"{_DRNAS_201P}:47 | --grad_clip default=5"),
        (W + "clip_arch_grad", True, f"{_DRNAS_201P}:289 | clip_grad_norm_(model.parameters(), args.grad_clip)"),
        (A + "lr", 3e-4, f"{_DRNAS_201P}:50 | --arch_learning_rate default=3e-4"),
        ("search.sampler.reg_scale", 1e-3, f"{_DRNAS_201P}:57 | --reg_scale default=1e-3"),
    ]),
    "snas": _drnas_201(_DRNAS_201, [
        ("search.epochs", 100, f"{_DRNAS_201}:41 | --epochs default=100"),
        (W + "grad_clip", 5.0, f"{_DRNAS_201}:48 | --grad_clip default=5"),
        (W + "clip_arch_grad", True, f"{_DRNAS_201}:273 | clip_grad_norm_(model.parameters())"),
        (A + "lr", 3e-4, f"{_DRNAS_201}:51 | --arch_learning_rate default=3e-4"),
        ("search.sampler.temperature.start", 10.0, f"{_DRNAS_201}:53 | --tau_max default=10"),
        ("search.sampler.temperature.end", 1.0, f"{_DRNAS_201}:54,136 | --tau_min 1; tau_step = (tau_min - tau_max) / epochs"),
        ("search.sampler.temperature.span", 100, f"{_DRNAS_201}:136 | tau_step = (args.tau_min - args.tau_max) / args.epochs"),
        ("search.mode", "bilevel", f"{_DRNAS_201}:265-274 | architect.step, then the weight step"),
    ]),
    "drnas-darts": [
        ("data.batch_size", 64, f"{_DRNAS_DS}:25 | --batch_size default=64"),
        (W + "lr", 0.1, f"{_DRNAS_DS}:26 | --learning_rate default=0.1"),
        (W + "lr_min", 0.0, f"{_DRNAS_DS}:27 | --learning_rate_min default=0.0"),
        (W + "momentum", 0.9, f"{_DRNAS_DS}:28 | --momentum default=0.9"),
        (W + "nesterov", False, f"{_DRNAS_DS}:90-94 | torch.optim.SGD(..., momentum=..., weight_decay=...)"),
        (W + "weight_decay", 3e-4, f"{_DRNAS_DS}:29 | --weight_decay default=3e-4"),
        ("space.channels", 36, f"{_DRNAS_DS}:32 | --init_channels default=36"),
        ("space.layers", 20, f"{_DRNAS_DS}:33 | --layers default=20"),
        (W + "grad_clip", 5.0, f"{_DRNAS_DS}:39 | --grad_clip default=5"),
        (W + "clip_arch_grad", False, f"{_DRNAS_DS}:191 | clip_grad_norm_(model.parameters()); alphas are Variables "
                                      "(DARTS-space/model_search.py:215-216)"),
        ("data.split", "halves", f"{_DRNAS_DS}:40,104-108 | train_portion 0.5; indices[:split]"),
        (A + "lr", 6e-4, f"{_DRNAS_DS}:42 | --arch_learning_rate default=6e-4"),
        (A + "name", "adam", _DRNAS_ARCH),
        (A + "betas", (0.5, 0.999), _DRNAS_ARCH),
        (A + "weight_decay", 1e-3, _DRNAS_ARCH + f" ({_DRNAS_DS}:46 --reg_scale default=1e-3)"),
        ("space.partial_channels", 6, f"{_DRNAS_DS}:43 | --k default=6"),
        ("search.sampler.partial_channels", (6, 4), f"{_DRNAS_DS}:120 | ks = [6, 4]"),
        ("search.sampler.keep_ops", (7, 4), f"{_DRNAS_DS}:121 | num_keeps = [7, 4]"),
        ("search.sampler.stage_epochs", (25, 25), f"{_DRNAS_DS}:122 | train_epochs = [25, 25]"),
        ("search.epochs", 50, f"{_DRNAS_DS}:122 | sum(train_epochs)"),
        ("search.order", "arch_first", f"{_DRNAS_DS}:183-192 | architect.step(...) before optimizer.step()"),
        ("space.ops", "darts_no_none", "DrNAS@DARTS-space/genotypes.py:5-6 | PRIMITIVES without 'none' (K = 7)"),
    ],
    # Recipes of issue 17: no official script exists for these settings (their comments say so);
    # the values are pinned all the same, with the reason instead of a line.
    "gnn-darts": [
        ("search.epochs", 200, "own: no official script (NAS-Bench-Graph trains 200 epochs per architecture)"),
        (W + "lr", 0.2, "own: one full-batch step per epoch (recipe comment)"),
        (A + "lr", 3e-2, "own: one full-batch step per epoch (recipe comment)"),
        ("search.order", "weights_first", "own: DARTS-V1 as in darts-nb201"),
        ("data.split", "dataset", "own: the usual graph-NAS protocol (train nodes / validation nodes)"),
    ],
    "gnn-latency-study": [
        ("search.epochs", 200, "own: as gnn-darts"),
        (W + "lr", 0.2, "own: as gnn-darts"),
        (A + "lr", 3e-2, "own: as gnn-darts"),
        ("search.order", "arch_first", "own: DrNAS' SNAS loop order, as recipes/snas.toml"),
        ("data.split", "dataset", "own: the usual graph-NAS protocol"),
    ],
    # Issue 18: Auto-Keras (Jin, Song & Hu, KDD 2019, arXiv:1806.10282); its code is not among the
    # sources we can read here, so the paper's section is cited.
    "morphism-macro": [
        ("blackbox.proposer.beta", 2.576, "paper: Auto-Keras §3.2 UCB, beta = 2.576"),
        ("evaluator.warm_start", True, "paper: Auto-Keras §3 (children start from the parent's weights by network morphism)"),
        ("evaluator.train_limit", 5000, "own: the 5k-image budget of issue 18"),
        ("blackbox.queries", 12, "own: minutes per query on 2 CPU cores (recipe comment)"),
    ],
    "morphism-nb201": [
        ("blackbox.proposer.beta", 2.576, "paper: Auto-Keras §3.2 UCB, beta = 2.576"),
        ("blackbox.queries", 100, "own: the query budget of recipes/gnn-rea.toml and the NB201 RS/REA comparisons"),
    ],
    "gnn-rea": [
        ("blackbox.proposer.population", 10, "AutoDL@scripts-search/NAS-Bench-201-algos/R-EA.sh:37 | --ea_population 10"),
        ("blackbox.proposer.sample", 3, "AutoDL@scripts-search/NAS-Bench-201-algos/R-EA.sh:3 | R-EA.sh cifar10 3 -1 (sample size 3)"),
        ("blackbox.queries", 100, "own: no published budget for the Cora table (recipe comment)"),
    ],
}

SOURCE = re.compile(r"^(?:(?P<repo>AutoDL|SNAS|DrNAS)@(?P<path>[\w./-]+)(?::(?P<lines>[\d,-]+))?(?: \| .+)?"
                    r"|own: .+|paper: .+|DARTS rule .+|single level: .+)$")


def _resolved(name: str, registry, profile: str | None = None):
    """``key -> value`` reader of a recipe as the run sees it: the space's and sampler's structured
    configs (plugin defaults included) for ``space.*`` and ``search.sampler.*``; for a black-box
    recipe the ``[blackbox]`` config with the proposer's checked options."""
    path = RECIPES / f"{name}.toml"
    if "blackbox" in tomllib.loads(path.read_text()):
        from automl_nas.recipe import load_overridden
        from automl_nas.recipe.converter import structure
        from automl_nas.recipe.model import ComponentRef
        from automl_nas.recipe.resolve import resolve_ref
        from automl_nas.study.config import load_blackbox_config

        # structured like plan_blackbox_recipe, without its preflight (no table need be installed)
        raw = load_overridden(path, profile=profile)
        cfg = load_blackbox_config(raw["blackbox"], source=str(path))
        proposer = resolve_ref(registry, "proposer", cfg.proposer, key="blackbox.proposer", source=str(path)).config
        evaluator_ref = structure(raw["evaluator"], ComponentRef, source=str(path), prefix="evaluator")
        evaluator = resolve_ref(registry, "evaluator", evaluator_ref, key="evaluator", source=str(path)).config
        roots = {"blackbox.proposer": proposer, "blackbox": cfg, "evaluator": evaluator}
    else:
        plan = plan_recipe(path, registry, profile=profile)
        roots = {"search.sampler.name": plan.sampler.component.name, "space": plan.space.config,
                 "search.sampler": plan.sampler.config, "": plan.recipe}

    def get(dotted: str):
        for prefix, obj in roots.items():
            if prefix == dotted:
                return obj
            if prefix and dotted.startswith(prefix + "."):
                return _walk(obj, dotted[len(prefix) + 1:], dotted)
        return _walk(roots[""], dotted, dotted)

    return get


def _walk(obj, rest: str, dotted: str):
    for part in rest.split("."):
        if isinstance(obj, dict):
            obj = obj[part]
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(getattr(obj, "options", None), dict) and part in obj.options:
            obj = obj.options[part]
        else:
            raise KeyError(f"{dotted}: no {part!r} in {type(obj).__name__}")
    return obj


def _norm(value):
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return value


SHIPPED = sorted(p.stem for p in RECIPES.glob("*.toml"))


def test_every_shipped_recipe_has_a_pin_table():
    assert sorted(PINS) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_recipe_values_match_their_official_source(name, registry):
    get = _resolved(name, registry)
    wrong = []
    for key, expected, source in PINS[name]:
        got = _norm(get(key))
        same = got == pytest.approx(expected) if isinstance(expected, float) else got == _norm(expected)
        if not same:
            wrong.append(f"{key} = {got!r}, but {source} says {expected!r}")
    assert not wrong, f"recipes/{name}.toml:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_pin_names_its_source(name):
    for key, _, source in PINS[name]:
        assert SOURCE.match(source), f"{name}: {key}: source {source!r} names no file (repo@path:line) and no reason"
        if source.startswith(tuple(f"{r}@" for r in REPOS)) and " | " in source:
            assert ":" in source.split(" | ")[0].split("@", 1)[1] or "|" in source, (name, key)


def test_a_wrong_value_fails_the_table(registry):
    """The check itself can fail: a recipe with the Adam arch optimiser is caught for snas-darts."""
    get = _resolved("snas-darts", registry, profile="adam")
    pins = {k: v for k, v, _ in PINS["snas-darts"]}
    assert get(A + "name") == "adam" != pins[A + "name"]
    assert get(A + "weight_decay") == 1e-3 != pins[A + "weight_decay"]
    assert get(W + "clip_arch_grad") is False
