"""GDAS for automl-nas: the straight-through hard Gumbel-softmax sampler (Dong & Yang, CVPR 2019).

Only the light config is re-exported; the sampler (torch) lives in :mod:`automl_nas_gdas.sampler`.
"""

from __future__ import annotations

from automl_nas_gdas.config import GdasConfig

__all__ = ["GdasConfig"]
