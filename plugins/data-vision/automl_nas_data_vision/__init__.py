"""automl-nas data sets: CIFAR-10/100, ImageNet16-120, ``.npz`` arrays and embedded digits.

Importing this package imports no torch; the providers live in their own modules.
"""

from __future__ import annotations

__all__: list[str] = []
