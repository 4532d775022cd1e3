"""automl-nas: plugin-based neural architecture search.

Importing this package registers nothing and imports no torch.
"""

from __future__ import annotations

from automl_nas.errors import AutomlError, DataError, PluginError, RecipeError, RunError
from automl_nas.hookspecs import PROJECT, hookimpl, hookspec
from automl_nas.registry import Component

__version__ = "0.1.0"

__all__ = [
    "PROJECT",
    "AutomlError",
    "Component",
    "DataError",
    "PluginError",
    "RecipeError",
    "RunError",
    "__version__",
    "hookimpl",
    "hookspec",
]
