"""Uniform single-path sampling for automl-nas (SPOS-style supernet training)."""

from __future__ import annotations

from automl_nas_uniform.config import UniformConfig

__all__ = ["UniformConfig"]
