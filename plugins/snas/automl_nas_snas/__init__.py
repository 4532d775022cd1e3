"""SNAS for automl-nas: the Concrete (Gumbel-softmax) architecture distribution and
SNAS' locally decomposable resource objective (Xie et al., ICLR 2019).

Only the light configs are re-exported; the torch implementations live in
:mod:`automl_nas_snas.sampler` and :mod:`automl_nas_snas.resource`.
"""

from __future__ import annotations

from automl_nas_snas.config import SnasConfig, SnasResourceConfig

__all__ = ["SnasConfig", "SnasResourceConfig"]
