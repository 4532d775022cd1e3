"""Options of the ``retrain`` evaluator and the papers' training presets (light: attrs only, no torch).

An option left unset (``None``) takes the value of the preset; ``preset = "auto"`` picks the
preset of the genotype's search space. The presets are data, with their sources:

* ``nb201`` — the NAS-Bench-201 benchmark training of every cell (AutoDL-Projects
  ``configs/nas-benchmark/CIFAR.config``; algorithms.md §1.6): 200 epochs, batch 256, SGD
  Nesterov momentum 0.9, lr 0.1 cosine to 0, weight decay 5e-4, crop + flip, no cutout; the
  benchmark network C = 16, N = 5 (§1.4).
* ``darts`` — the DARTS CIFAR-10 evaluation (SNAS-Series ``Analysis/darts/cnn/train.py``
  defaults; §2.4): 600 epochs, batch 96, SGD momentum 0.9, lr 0.025 cosine to 0, weight decay
  3e-4, grad-norm clip 5, cutout 16, auxiliary weight 0.4, drop-path 0.2 (ramped), the
  evaluation network C = 36, 20 cells, auxiliary head.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from attrs import validators as v

__all__ = ["PRESETS", "Preset", "RetrainConfig", "RetrainSettings", "resolve_settings"]


def _opt(*checks: Any) -> Any:
    return v.optional(list(checks))


_int = v.instance_of(int)
_num = v.instance_of((int, float))
_prob = [_num, v.ge(0.0), v.lt(1.0)]


def _device(_inst: object, attribute: attrs.Attribute, value: str) -> None:
    if not re.fullmatch(r"|auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError(f"'{attribute.name}' must be '', auto, cpu, mps, cuda or cuda:N, got {value!r}")


@attrs.frozen(kw_only=True)
class RetrainSettings:
    """The training schedule, every value set (a preset, or a config resolved against one)."""

    epochs: int
    batch_size: int
    lr: float
    lr_min: float
    momentum: float
    nesterov: bool
    weight_decay: float
    grad_clip: float
    auxiliary_weight: float
    cutout: int
    drop_path_prob: float
    label_smoothing: float


@attrs.frozen(kw_only=True)
class Preset:
    """A paper's retraining protocol: schedule, network sizes (space options) and source."""

    space: str
    settings: RetrainSettings
    network: dict
    source: str


@attrs.frozen(kw_only=True)
class RetrainConfig:
    """Options of ``[evaluator] name = "retrain"``; ``None`` means "the preset's value"."""

    preset: str = attrs.field(default="auto", validator=v.in_(("auto", "nb201", "darts")),
                              metadata={"help": "training protocol: nb201, darts, or auto (the genotype's space; nb201's schedule for other spaces)"})
    epochs: int | None = attrs.field(default=None, validator=_opt(_int, v.ge(1)),
                                     metadata={"help": "training epochs (preset: nb201 200, darts 600)"})
    batch_size: int | None = attrs.field(default=None, validator=_opt(_int, v.ge(2)),
                                         metadata={"help": "images per step; the last partial batch of an epoch is dropped (preset: 256, 96)"})
    lr: float | None = attrs.field(default=None, validator=_opt(_num, v.gt(0.0)),
                                   metadata={"help": "initial SGD learning rate (preset: 0.1, 0.025)"})
    lr_min: float | None = attrs.field(default=None, validator=_opt(_num, v.ge(0.0)),
                                       metadata={"help": "learning rate the per-epoch cosine schedule decays to (preset: 0)"})
    momentum: float | None = attrs.field(default=None, validator=_opt(*_prob),
                                         metadata={"help": "SGD momentum (preset: 0.9)"})
    nesterov: bool | None = attrs.field(default=None, validator=v.optional(v.instance_of(bool)),
                                        metadata={"help": "Nesterov momentum (preset: nb201 true, darts false)"})
    weight_decay: float | None = attrs.field(default=None, validator=_opt(_num, v.ge(0.0)),
                                             metadata={"help": "L2 weight decay on every weight, BN included (preset: 5e-4, 3e-4)"})
    grad_clip: float | None = attrs.field(default=None, validator=_opt(_num, v.ge(0.0)),
                                          metadata={"help": "max gradient norm, 0 = off (preset: nb201 0, darts 5)"})
    auxiliary_weight: float | None = attrs.field(default=None, validator=_opt(_num, v.ge(0.0)),
                                                 metadata={"help": "weight of the auxiliary head's loss, used when the network has one (preset: 0, 0.4)"})
    cutout: int | None = attrs.field(default=None, validator=_opt(_int, v.ge(0)),
                                     metadata={"help": "cutout square side in pixels, 0 = off (preset: 0, 16; the preset's 16 is "
                                                       "for 32x32 images and scales with the smaller image side); "
                                                       "must be smaller than the images"})
    drop_path_prob: float | None = attrs.field(default=None, validator=_opt(*_prob),
                                               metadata={"help": "final drop-path probability, ramped as prob * epoch / epochs (preset: 0, 0.2)"})
    label_smoothing: float | None = attrs.field(default=None, validator=_opt(*_prob),
                                                metadata={"help": "label smoothing of the cross-entropy (preset: 0)"})
    network: dict = attrs.field(factory=dict, validator=v.instance_of(dict),
                                metadata={"help": "space options of the trained network, over the preset's sizes (nb201: channels, cells_per_stage; darts: eval_channels, eval_layers, auxiliary)"})
    train_limit: int = attrs.field(default=0, validator=[_int, v.ge(0)],
                                   metadata={"help": "train on the first N training images only (0: all)"})
    augment: bool = attrs.field(default=True, validator=v.instance_of(bool),
                                metadata={"help": "random crop (zero padding) + horizontal flip on training batches"})
    eval_batch_size: int = attrs.field(default=256, validator=[_int, v.ge(1)],
                                       metadata={"help": "images per batch when scoring the test split"})
    threads: int = attrs.field(default=0, validator=[_int, v.ge(0)],
                               metadata={"help": "torch CPU threads while training (0: leave as is)"})
    device: str = attrs.field(default="", validator=_device,
                              metadata={"help": "device to train on ('' : the run's device; auto, cpu, cuda, cuda:N)"})
    seed: int | None = attrs.field(default=None, validator=_opt(_int, v.ge(0)),
                                   metadata={"help": "seed of the weight init, data order and drop-path (default: the run's seed)"})
    warm_start: bool = attrs.field(default=False, validator=v.instance_of(bool),
                                   metadata={"help": "start from the weights of a network this run already trained, carried over "
                                                     "by the space's morphisms (Auto-Keras); needs a run directory"})
    warm_start_edits: int = attrs.field(default=3, validator=[_int, v.ge(1)],
                                        metadata={"help": "longest morphism sequence searched from a trained parent to the genotype"})
    keep_weights: bool = attrs.field(default=True, validator=v.instance_of(bool),
                                     metadata={"help": "keep a finished retraining's weights (retrain/<key>/last.pt, the optimiser "
                                                       "state dropped): warm_start and automl export read them; false deletes them "
                                                       "after the test pass, so a black-box search of N queries keeps N small "
                                                       "records, not N networks"})


    def preflight(self, component: str) -> None:
        """Options that contradict each other (checked by ``automl validate`` and before a run)."""
        if self.warm_start and not self.keep_weights:
            from automl_nas.errors import RecipeError

            raise RecipeError(f"{component}: warm_start = true starts from the weights of networks the run trained, "
                              f"and keep_weights = false deletes them", hint="set keep_weights = true, or warm_start = false")


_NB201 = Preset(
    space="nb201",
    settings=RetrainSettings(epochs=200, batch_size=256, lr=0.1, lr_min=0.0, momentum=0.9, nesterov=True,
                             weight_decay=5e-4, grad_clip=0.0, auxiliary_weight=0.0, cutout=0,
                             drop_path_prob=0.0, label_smoothing=0.0),
    network={"channels": 16, "cells_per_stage": 5},
    source="NAS-Bench-201 benchmark training, AutoDL-Projects configs/nas-benchmark/CIFAR.config (algorithms.md §1.4, §1.6)",
)
_DARTS = Preset(
    space="darts",
    settings=RetrainSettings(epochs=600, batch_size=96, lr=0.025, lr_min=0.0, momentum=0.9, nesterov=False,
                             weight_decay=3e-4, grad_clip=5.0, auxiliary_weight=0.4, cutout=16,
                             drop_path_prob=0.2, label_smoothing=0.0),
    network={"eval_channels": 36, "eval_layers": 20, "auxiliary": True},
    source="DARTS CIFAR-10 evaluation, SNAS-Series Analysis/darts/cnn/train.py defaults (algorithms.md §2.3, §2.4)",
)
PRESETS: dict[str, Preset] = {"nb201": _NB201, "darts": _DARTS}


def resolve_settings(config: RetrainConfig, space_name: str) -> tuple[RetrainSettings, dict, str]:
    """``(settings, network options, preset name)`` for a genotype of ``space_name``.

    ``preset = "auto"`` takes the space's preset; a space without one gets NB201's schedule
    and no network sizes. A preset of another space is refused: its network sizes are
    options the space does not have.

    Example:
        >>> settings, network, name = resolve_settings(RetrainConfig(epochs=2), "darts")
        >>> settings.epochs, settings.cutout, network["eval_channels"], name
        (2, 16, 36, 'darts')
    """
    name = config.preset
    if name == "auto":
        name = space_name if space_name in PRESETS else "nb201"
        network = dict(PRESETS[name].network) if space_name in PRESETS else {}
    elif PRESETS[name].space != space_name:
        raise ValueError(f"preset {name!r} trains {PRESETS[name].space} networks but the genotype is a "
                         f"{space_name!r} one; use preset = \"auto\"")
    else:
        network = dict(PRESETS[name].network)
    base = PRESETS[name].settings
    chosen = {f.name: getattr(config, f.name) for f in attrs.fields(RetrainSettings)}
    settings = attrs.evolve(base, **{k: val for k, val in chosen.items() if val is not None})
    return settings, {**network, **config.network}, name


#: The image side the presets' cutout was set for (CIFAR).
PRESET_SIDE = 32


def fitted_cutout(settings: RetrainSettings, config: RetrainConfig, height: int, width: int) -> int:
    """The cutout for ``height`` x ``width`` images: the preset's scaled with the smaller side
    (DARTS' 16 blanked every pixel of an 8x8 image and hid a sixteenth of a 64x64 one's area at
    most), or the recipe's own value, which must be smaller than the images.

    Example:
        >>> settings, _, _ = resolve_settings(RetrainConfig(), "darts")
        >>> fitted_cutout(settings, RetrainConfig(), 32, 32), fitted_cutout(settings, RetrainConfig(), 8, 8)
        (16, 4)
    """
    side, longest = min(height, width), max(height, width)
    if config.cutout is None:
        return max(1, round(settings.cutout * side / PRESET_SIDE)) if settings.cutout else 0
    if config.cutout >= longest:  # a square as large as the image hides most of it; twice as large, all of it
        raise ValueError(f"cutout = {config.cutout} is as large as the {height}x{width} images: it hides most of "
                         f"each training image (from {2 * longest}, all of it); DARTS' 16 is half of CIFAR's 32, so "
                         f"set it below {longest}, e.g. {max(1, side // 2)}, or 0 for none")
    return config.cutout
