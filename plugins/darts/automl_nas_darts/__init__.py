"""DARTS for automl-nas: the softmax relaxation of the architecture (Liu et al., 2019).

Only the light config is re-exported; the sampler (torch) lives in
:mod:`automl_nas_darts.sampler` and is imported when the component is built.
"""

from __future__ import annotations

from automl_nas_darts.config import DartsConfig

__all__ = ["DartsConfig"]
