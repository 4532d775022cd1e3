"""``retrain``: train a genotype's standalone network from scratch and report its test accuracy.

Protocols: NAS-Bench-201's benchmark training (Dong & Yang, ICLR 2020, arXiv:2001.00326; code
AutoDL-Projects ``configs/nas-benchmark/CIFAR.config``) and DARTS' CIFAR-10 evaluation (Liu et al.,
arXiv:1806.09055; code SNAS-Series ``Analysis/darts/cnn/train.py``), as the presets in
:mod:`automl_nas_eval_retrain.config`. The network is ``space.build_network`` of the space rebuilt
with the preset's sizes (``evaluator.network`` overrides them); the data are the run's whole
training set (``train_limit`` to shorten), scored on its test split.

The run's global RNG is left untouched (training runs under ``torch.random.fork_rng``); with a
run directory every epoch ends with a checkpoint under ``retrain/<key>/`` and the same job
resumes from it (see :mod:`automl_nas_eval_retrain.checkpoint`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import attrs
import torch

from automl_nas.api import EvalContext, Evaluator, Genotype, ImageSet, InputSpec
from automl_nas.data import BatchLoader
from automl_nas.devices import set_threads
from automl_nas.errors import DataError, RecipeError
from automl_nas_eval_retrain.checkpoint import CheckpointDir
from automl_nas_eval_retrain.config import RetrainConfig, RetrainSettings, fitted_cutout, resolve_settings
from automl_nas_eval_retrain.network import genotype_costs, network_space
from automl_nas_eval_retrain.trainer import Trainer
from automl_nas_eval_retrain.warm_start import can_warm_start, find_parent, warm_network

__all__ = ["Retrain"]


class Retrain(Evaluator):
    """Metrics: ``test_acc`` (top-1 %, test split), ``params``, ``flops`` (multiply-adds, the space's
    cost model), ``train_time_s`` (training only, summed over resumes), ``train_loss`` (mean
    objective of the last epoch, auxiliary term included), plus ``train_acc``, ``epochs`` and
    ``warm_start_edits`` (the morphisms from the trained parent it started from; 0 from scratch)."""

    name = "retrain"
    metrics = ("test_acc", "params", "flops", "train_time_s", "train_loss")

    def __init__(self, config: RetrainConfig | None = None) -> None:
        self.config = config or RetrainConfig()

    def check(self, space: Any, data: Any) -> None:
        # the options first: `eval --check` of data not downloaded yet passes None and still checks them
        settings, network, _ = _settings(self.config, space.name)
        network_space(space, network)  # a network option the space refuses (eval --check said ok)
        data = _check_data(data)
        _cutout(settings, self.config, data)

    def evaluate(self, genotype: Genotype, ctx: EvalContext) -> dict[str, float]:
        cfg = self.config
        data = _check_data(ctx.data)
        if genotype.space != ctx.space.name:
            raise RecipeError(f"retrain: genotype of space {genotype.space!r} given with the {ctx.space.name!r} space",
                              hint="evaluate it with its own space (automl eval --space NAME)")
        settings, network, preset = _settings(cfg, ctx.space.name)
        settings = attrs.evolve(settings, cutout=_cutout(settings, cfg, data))
        space = network_space(ctx.space, network)
        inputs = InputSpec(channels=data.shape[0], height=data.shape[1], width=data.shape[2], num_classes=data.num_classes)
        seed = ctx.seed if cfg.seed is None else cfg.seed
        device = _device(cfg.device or ctx.device)
        n_train = len(data.train_y) if not cfg.train_limit else min(cfg.train_limit, len(data.train_y))
        with _threads(cfg.threads), torch.random.fork_rng(devices=_cuda_index(device)):
            torch.manual_seed(seed)
            net = _build(space, genotype, inputs).to(device)
            if cfg.drop_path_prob is None and hasattr(net, "drop_path_max"):  # the space's own final value (DARTS)
                settings = attrs.evolve(settings, drop_path_prob=float(net.drop_path_max))
            costs = genotype_costs(space, genotype, inputs, net)
            # The uint8 images move to the device once (as the search's do), so no step copies from the host.
            train = BatchLoader(data, torch.arange(n_train), batch_size=settings.batch_size, seed=seed, device=device,
                                augment=cfg.augment, images=data.train_x[:n_train].to(device),
                                labels=data.train_y[:n_train].to(device))
            test = BatchLoader(data, torch.arange(len(data.test_y)), batch_size=cfg.eval_batch_size, seed=seed, device=device,
                               augment=False, shuffle=False, drop_last=False, images=data.test_x.to(device),
                               labels=data.test_y.to(device))
            job = {"genotype": genotype.text, "space": space.fingerprint(), "settings": attrs.asdict(settings),
                   "augment": cfg.augment, "seed": seed, "data": {"name": data.name, "source": data.source,
                                                                   "train": n_train, "test": len(data.test_y)}}
            net, warm = _warm_start(cfg, ctx, space, genotype, job, inputs, device, net)
            if warm is not None:
                job["warm_start"] = warm  # its own checkpoint folder: a warm child never resumes a cold one
            checkpoints = CheckpointDir(ctx.run_dir, job) if ctx.run_dir is not None else None
            recorded = checkpoints.result(self.metrics) if checkpoints is not None else None
            if recorded is not None:  # this job was trained and tested (a query a search asked before)
                ctx.log(f"retrain: {genotype.text} was trained with these settings in {checkpoints.path}: "
                        f"test accuracy {recorded.get('test_acc', float('nan')):.2f}% (its result.json)")
                if cfg.keep_weights and not checkpoints.state_file.exists():  # said nothing: export then had none
                    ctx.log(f"retrain: its weights were not kept (keep_weights = false when it was trained); delete "
                            f"{checkpoints.path} to train it again with them")
                return recorded
            trainer = Trainer(net, settings, train, test, seed=seed, log=ctx.log, checkpoints=checkpoints)
            ctx.log(f"retrain: {genotype.text} on {space.name} (preset {preset}, network {network or 'as the space'}): "
                    f"{costs['params'] / 1e6:.3f} M params, {costs['flops'] / 1e6:.1f} M FLOPs; {settings.epochs} epochs "
                    f"on {n_train} images ({data.name}), batch {train.batch_size}"
                    f"{f' (batch_size {settings.batch_size} is more than the images)' if train.batch_size < settings.batch_size else ''}"
                    f", device {device}")
            if settings.auxiliary_weight > 0 and not _has_aux_head(net):
                ctx.log("retrain: the network has no auxiliary head; auxiliary_weight is not used")
            with checkpoints.held() if checkpoints is not None else contextlib.nullcontext():
                trainer.restore()
                trainer.train()
                test_acc = trainer.test_accuracy()
        last = trainer.history[-1]
        ctx.log(f"retrain: test accuracy {test_acc:.2f}% after {settings.epochs} epochs ({trainer.train_time:.1f}s training)")
        metrics = {"test_acc": test_acc, "params": costs["params"], "flops": costs["flops"],
                   "train_time_s": round(trainer.train_time, 3), "train_loss": last["loss"], "train_acc": last["train_acc"],
                   "epochs": float(settings.epochs), "warm_start_edits": float(len(warm["morphisms"]) if warm else 0)}
        if checkpoints is not None:
            checkpoints.finish(metrics, keep_weights=cfg.keep_weights)
        return metrics


def _warm_start(cfg: RetrainConfig, ctx: EvalContext, space, genotype: Genotype, job: dict, inputs: InputSpec,
                device: str, net: torch.nn.Module) -> tuple[torch.nn.Module, dict | None]:
    """``warm_start``: the nearest trained parent's network carried to ``genotype`` (warm_start.py)."""
    if not cfg.warm_start:
        return net, None
    if ctx.run_dir is None:
        raise RecipeError("retrain: warm_start finds the parent's weights in the run directory, and this run has none",
                          hint="run it as a search (automl search) or give it a work directory")
    if not can_warm_start(space):
        raise RecipeError(f"retrain: warm_start needs a space with network morphisms; {space.name!r} offers none",
                          hint="set evaluator.warm_start = false")
    found = find_parent(ctx.run_dir, job, space, genotype, cfg.warm_start_edits)
    if found is None:
        ctx.log(f"retrain: no trained parent reaches {genotype.text} by morphisms: trained from scratch")
        return net, None
    folder, parent, path = found
    ctx.log(f"retrain: warm start from {parent.text} ({folder.name}) by {', '.join(map(str, path))}")
    return warm_network(space, folder, parent, path, inputs, device), {
        "parent": folder.name, "morphisms": [str(m) for m in path]}


def _check_data(data: Any) -> ImageSet:
    if data is None:
        raise DataError("retrain needs a data set to train on, and none was given",
                        hint="give the recipe a [data] table, or `automl eval ... --data cifar10`")
    if not isinstance(data, ImageSet):
        raise DataError(f"retrain trains image networks, and the data set {data.name!r} is a graph",
                        hint='evaluate a graph space with evaluator "gnn-train"')
    if len(data.test_y) == 0:
        raise DataError(f"data set {data.name!r} has no test split: retrain reports top-1 accuracy on the test images",
                        hint="use a data set with a test split (cifar10, cifar100, digits) or hold out images of an npz "
                             "file with `test_fraction = 0.2` in its [data] table")
    if len(data.train_y) < 2:
        raise DataError(f"data set {data.name!r} has {len(data.train_y)} training images; retrain needs at least 2",
                        hint="use a larger data set or evaluator.train_limit = 0")
    return data


def _cutout(settings: RetrainSettings, cfg: RetrainConfig, data: ImageSet) -> int:
    try:
        return fitted_cutout(settings, cfg, data.shape[1], data.shape[2])
    except ValueError as exc:
        raise RecipeError(f"evaluator.cutout: {exc}", hint="set evaluator.cutout (--set cutout=N in `automl eval`)") from None


def _settings(cfg: RetrainConfig, space_name: str) -> tuple[RetrainSettings, dict, str]:
    try:
        settings, network, preset = resolve_settings(cfg, space_name)
    except ValueError as exc:
        raise RecipeError(f"evaluator.preset: {exc}", hint="set evaluator.preset = \"auto\"") from None
    if settings.lr_min > settings.lr:  # the cosine "decay" would raise the learning rate, as the search refuses
        raise RecipeError(f"evaluator.lr_min = {settings.lr_min} exceeds evaluator.lr = {settings.lr} (preset "
                          f"{preset!r} with the recipe's values): the cosine schedule anneals lr down to lr_min",
                          hint="set evaluator.lr_min <= evaluator.lr")
    return settings, network, preset


def _build(space, genotype: Genotype, inputs: InputSpec) -> torch.nn.Module:
    try:
        return space.build_network(genotype, inputs)
    except ValueError as exc:
        raise RecipeError(f"retrain: {genotype.text!r} is not a valid {space.name!r} genotype: {exc}",
                          hint="pass the genotype text the search printed (result.json: genotype)") from None


def _device(name: str) -> str:
    from automl_nas.devices import resolve_device

    return resolve_device(name)


def _cuda_index(device: str) -> list[int]:
    if not device.startswith("cuda"):
        return []
    return [torch.device(device).index or 0]


def _has_aux_head(net: torch.nn.Module) -> bool:
    return getattr(net, "auxiliary_head", None) is not None


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    set_threads(n, key="evaluator.threads")
    try:
        yield
    finally:
        torch.set_num_threads(before)
