"""Options of the uniform single-path sampler (no torch import here)."""

from __future__ import annotations

import attrs

__all__ = ["UniformConfig"]


@attrs.frozen(kw_only=True)
class UniformConfig:
    candidates: int = attrs.field(default=8, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)],
                                  metadata={"help": "paths scored on the validation batches after each epoch; "
                                                    "the best is the epoch's genotype (0: none are scored)"})
