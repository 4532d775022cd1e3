"""The recipe as frozen attrs classes. Light: no torch, no plugin code."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

from automl_nas.devices import device_option

positive = v.gt(0)
non_negative = v.ge(0)


@attrs.frozen(kw_only=True)
class ComponentRef:
    """``[table] name = "gdas"`` plus the component's own options (structured later
    into the plugin's config class by :mod:`automl_nas.recipe.resolve`)."""

    name: str
    options: dict = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class DataConfig:
    name: str = attrs.field(metadata={"help": "data-set plugin name (see `automl plugins`)"})
    options: dict = attrs.field(factory=dict)
    batch_size: int = attrs.field(default=64, validator=positive, metadata={"help": "images per weight step"})
    arch_batch_size: int = attrs.field(default=0, validator=non_negative, metadata={"help": "images per architecture step (0: batch_size)"})
    eval_batch_size: int = attrs.field(default=256, validator=positive, metadata={"help": "images per evaluation batch"})
    split: str = attrs.field(default="halves", validator=v.in_(("halves", "random", "dataset")),
                             metadata={"help": "search split of the training set: halves (by index, DrNAS), random (seeded), dataset (the data set's own)"})
    train_fraction: float = attrs.field(default=0.5, validator=[v.gt(0.0), v.lt(1.0)],
                                        metadata={"help": "share of the training set that trains the weights"})
    limit: int = attrs.field(default=0, validator=non_negative, metadata={"help": "use only the first N training images (0: all)"})
    augment: bool = attrs.field(default=True, metadata={"help": "random crop + horizontal flip on search batches"})


def _not_above_lr(instance: "WeightOptimizerConfig", attribute: attrs.Attribute, value: float) -> None:
    if value > instance.lr:
        raise ValueError(f"must not exceed lr = {instance.lr} (got {value}): the cosine schedule anneals lr down to lr_min")


@attrs.frozen(kw_only=True)
class WeightOptimizerConfig:
    lr: float = attrs.field(default=0.025, validator=positive)
    lr_min: float = attrs.field(default=0.001, validator=[non_negative, _not_above_lr])
    momentum: float = attrs.field(default=0.9, validator=[non_negative, v.lt(1.0)])
    nesterov: bool = False
    weight_decay: float = attrs.field(default=3e-4, validator=non_negative)
    grad_clip: float = attrs.field(default=5.0, validator=non_negative, metadata={"help": "max grad norm (0: off)"})
    clip_arch_grad: bool = attrs.field(default=False, validator=v.instance_of(bool),
                                       metadata={"help": "the weight step's clip norm includes the architecture gradient of its loss "
                                                         "(AutoDL-Projects, DrNAS on NB201, SNAS single-GPU: clip_grad_norm_ over "
                                                         "model.parameters(), alphas included); only the weights are stepped"})


def _adam_betas(_inst: object, attribute: attrs.Attribute, value: tuple[float, float]) -> None:
    if not all(0.0 <= b < 1.0 for b in value):  # torch's own refusal came mid-setup, as an internal error
        raise ValueError(f"'{attribute.name}' must be two decay rates in [0, 1), got {list(value)}")


@attrs.frozen(kw_only=True)
class ArchOptimizerConfig:
    name: str = attrs.field(default="adam", validator=v.in_(("adam", "sgd")))
    lr: float = attrs.field(default=3e-4, validator=positive)
    betas: tuple[float, float] = attrs.field(default=(0.5, 0.999), validator=_adam_betas)
    momentum: float = attrs.field(default=0.0, validator=non_negative)
    weight_decay: float = attrs.field(default=1e-3, validator=non_negative)
    grad_clip: float = attrs.field(default=0.0, validator=non_negative, metadata={"help": "max grad norm of the arch params (0: off)"})


def _default_objectives() -> list[ComponentRef]:
    return [ComponentRef(name="cross_entropy")]


def _second_order_fits(instance: "SearchConfig", attribute: attrs.Attribute, value: bool) -> None:
    # Both were accepted and then ignored or misordered without a word.
    if not value:
        return
    if instance.mode != "bilevel":
        raise ValueError("'second_order' needs mode = \"bilevel\": the unrolled step differentiates the validation loss "
                         "through a virtual weight step on the training batch, and a single-level search has no "
                         "validation batch (set second_order = false)")
    if instance.order != "arch_first":
        raise ValueError("'second_order' needs order = \"arch_first\": DARTS-V2 takes the architecture step before the "
                         "weight step, unrolling from the weights it then updates (algorithms.md §4, §11.12)")


@attrs.frozen(kw_only=True)
class SearchConfig:
    epochs: int = attrs.field(validator=positive, metadata={"help": "search epochs"})
    steps_per_epoch: int = attrs.field(default=0, validator=non_negative, metadata={"help": "steps per epoch (0: one pass over the weight split)"})
    mode: str = attrs.field(default="bilevel", validator=v.in_(("bilevel", "single_level")),
                            metadata={"help": "bilevel (weights on train split, arch on valid split) or single_level (SNAS)"})
    order: str = attrs.field(default="weights_first", validator=v.in_(("weights_first", "arch_first")))
    second_order: bool = attrs.field(default=False, validator=_second_order_fits,
                                     metadata={"help": "DARTS second-order (unrolled) architecture gradient; bilevel, "
                                                       "with order = \"arch_first\""})
    sampler: ComponentRef
    objectives: list[ComponentRef] = attrs.field(factory=_default_objectives)
    weights_optimizer: WeightOptimizerConfig = attrs.field(factory=WeightOptimizerConfig)
    arch_optimizer: ArchOptimizerConfig = attrs.field(factory=ArchOptimizerConfig)
    eval_every: int = attrs.field(default=0, validator=non_negative, metadata={"help": "evaluate the derived genotype every k epochs (0: only at the end)"})
    hessian_eigenvalue: bool = attrs.field(default=False, metadata={"help": "log the dominant eigenvalue of the arch Hessian per epoch"})
    child_accuracy: bool = attrs.field(default=False, metadata={"help": "log the accuracy of a child network sampled from the distribution"})
    valid_batches: int = attrs.field(default=0, validator=non_negative, metadata={"help": "batches of the valid split used for per-epoch accuracy (0: all)"})


def _check_band(low: float, value: float, high: float) -> None:
    if not low <= value <= high:  # a band the paper's own value is outside of: every run would be "OUTSIDE"
        raise ValueError(f"needs low <= value <= high (got {low} <= {value} <= {high})")


@attrs.frozen(kw_only=True)
class ExpectedResult:
    """The result a paper reports, as a band; a finished run says whether it landed inside."""

    metric: str
    value: float
    low: float
    high: float = attrs.field(validator=lambda inst, _, high: _check_band(inst.low, inst.value, high))
    source: str = ""
    #: keys of the paper's protocol ([space], [data], [search]) this run changed from the recipe
    #: file (a profile, --set): written by the tool; the run gets no verdict then
    changed: tuple[str, ...] = attrs.field(default=(), converter=tuple)


def _compiled_only(instance: "RunConfig", attribute: attrs.Attribute, value: str) -> None:
    # asked for CUDA graphs, got the eager supernet, and nothing said so
    if value != "default" and not instance.compile:
        raise ValueError(f"'compile_mode' {value!r} applies only with compile = true; set run.compile = true too, or "
                         f"leave compile_mode out")


@attrs.frozen(kw_only=True)
class RunConfig:
    root: str = attrs.field(default="runs", metadata={"help": "parent directory of run directories"})
    device: str = attrs.field(default="auto", validator=device_option, metadata={"help": "auto, cpu, mps, cuda, cuda:N"})
    checkpoint_every: int = attrs.field(default=1, validator=non_negative, metadata={"help": "epochs between checkpoints (0: only at the end)"})
    threads: int = attrs.field(default=0, validator=non_negative, metadata={"help": "torch CPU threads (0: torch default)"})
    deterministic: bool = attrs.field(default=False, metadata={"help": "deterministic GPU kernels (cuDNN, cuBLAS, torch's deterministic algorithms): a seed and its resume repeat on a GPU too, at some speed (an op without a deterministic kernel warns); CPU runs repeat anyway"})
    fast_paths: bool = attrs.field(default=True, metadata={"help": "fused supernet kernels, same maths (false: the plain per-op reference path, which run.compile traces)"})
    bf16: bool = attrs.field(default=False, metadata={"help": "bfloat16 autocast of the search forward passes (GPU speed; changes rounding)"})
    compile: bool = attrs.field(default=False, metadata={"help": "torch.compile the supernet's forward, as one graph of the plain path (issue 15; default off: on 2 CPU cores compiling costs more than it saves, GPU default awaits measurement)"})
    compile_mode: str = attrs.field(default="default", validator=[v.in_(("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")), _compiled_only], metadata={"help": "torch.compile mode with run.compile: reduce-overhead also captures CUDA graphs (a GPU step's launch overhead; the static supernets of DARTS, SNAS, DrNAS), default compiles kernels only"})
    sync_batch_norm: bool = attrs.field(default=True, metadata={"help": "in a data-parallel search (torchrun, executor.ranks), batch norm normalises with the statistics of the global batch, so the search is the one-process search on that batch (one all-reduce per batch-norm call each way); false: each process's own slice, as DDP without SyncBatchNorm"})
    channels_last: bool = attrs.field(default=False, metadata={"help": "channels-last images and conv weights on every device (the fused CPU path is channels-last anyway; GPU default awaits measurement)"})
    trackers: list[str] = attrs.field(factory=list, metadata={"help": "experiment trackers fed during the run, e.g. [\"tensorboard\"] (see `automl plugins`)"})
    tracker_options: dict[str, dict] = attrs.field(factory=dict, metadata={"help": "options per tracker, e.g. [run.tracker_options.wandb] project = \"nas\""})


@attrs.frozen(kw_only=True)
class ExecutorConfig:
    name: str = attrs.field(default="local", validator=v.in_(("local", "ray")))
    cpus: float = attrs.field(default=1.0, validator=non_negative)
    gpus: float = attrs.field(default=0.0, validator=non_negative)
    retries: int = attrs.field(default=0, validator=non_negative)
    address: str = ""
    # One data-parallel search per trial over this many processes (torch.distributed: gloo on
    # CPU, nccl on GPUs, rank r on the trial's r-th GPU); cpus and gpus are what the whole trial holds.
    ranks: int = attrs.field(default=1, validator=v.ge(1))
    # A storage every Ray node reaches (a shared-file-system path or a cloud URI such as
    # s3://bucket/prefix): seed trials then hand a checkpoint to Tune after every epoch and a
    # retry restores it with tune.get_checkpoint(); empty: the trial's own checkpoint travels
    # through the driver's record sink instead (Ray >= 2.7 cannot checkpoint multi-node to a local path).
    storage: str = ""

    def uses_ray(self, parallel: int = 1, address: str | None = None) -> bool:
        """Whether the work runs as Ray tasks: several at once (``parallel > 1``), or one at a
        time where Ray is named (``name = "ray"``, this table's ``address`` or a command's
        ``--address``). Otherwise it runs in the driver's process, wherever the recipe pointed."""
        return parallel > 1 or self.name == "ray" or bool(self.address or address)


#: Seeds every generator of a run accepts (numpy's legacy seeding takes 32-bit values; the
#: loaders add small offsets).
MAX_SEED = 2**31 - 1


@attrs.frozen(kw_only=True)
class Recipe:
    name: str = attrs.field(validator=v.min_len(1))
    description: str = ""
    seed: int = attrs.field(default=0, validator=[v.ge(0), v.le(MAX_SEED)],
                            metadata={"help": f"the run's seed, 0 .. {MAX_SEED}"})
    space: ComponentRef
    data: DataConfig
    search: SearchConfig
    evaluator: ComponentRef | None = None
    expected: ExpectedResult | None = None
    run: RunConfig = attrs.field(factory=RunConfig)
    executor: ExecutorConfig = attrs.field(factory=ExecutorConfig)
    study: dict[str, Any] | None = None
    blackbox: dict[str, Any] | None = None
