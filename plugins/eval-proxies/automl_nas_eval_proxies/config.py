"""Options of the proxy evaluators (light: no torch)."""

from __future__ import annotations

import attrs

_seed = attrs.validators.optional([attrs.validators.instance_of(int), attrs.validators.ge(0)])


@attrs.frozen(kw_only=True)
class BatchProxyConfig:
    batch_size: int = attrs.field(default=64, validator=[attrs.validators.instance_of(int), attrs.validators.ge(2)],
                                  metadata={"help": "training images in the scoring mini-batch"})
    seed: int | None = attrs.field(default=None, validator=_seed,
                                   metadata={"help": "seed of the weight init and the batch (default: the run's seed)"})


@attrs.frozen(kw_only=True)
class NaswotConfig:
    # 128: the official score_networks.py's --batch_size (the score, a log-determinant of a
    # batch x batch kernel, depends on it); SNIP keeps zero-cost-nas' 64
    batch_size: int = attrs.field(default=128, validator=[attrs.validators.instance_of(int), attrs.validators.ge(2)],
                                  metadata={"help": "training images in the scoring mini-batch (the official 128; the "
                                                    "score depends on it)"})
    seed: int | None = attrs.field(default=None, validator=_seed,
                                   metadata={"help": "seed of the weight init and the batch (default: the run's seed)"})


@attrs.frozen(kw_only=True)
class SynflowConfig:
    seed: int | None = attrs.field(default=None, validator=_seed,
                                   metadata={"help": "seed of the weight init (default: the run's seed)"})
