"""DrNAS for automl-nas: Dirichlet architecture distribution with progressive
pruning and partial-channel widening (Chen et al., ICLR 2021).

Only the light config is re-exported; the torch implementations live in
:mod:`automl_nas_drnas.sampler`, :mod:`automl_nas_drnas.dirichlet` and :mod:`automl_nas_drnas.widen`.
"""

from __future__ import annotations

from automl_nas_drnas.config import DrnasConfig

__all__ = ["DrnasConfig"]
