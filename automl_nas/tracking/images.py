"""The α matrix as an image, shared by the trackers (TensorBoard, W&B, MLflow draw the same)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["alpha_image", "flat_recipe"]


def alpha_image(matrix: list[list[float]], cell_px: int = 16) -> np.ndarray:
    """An ``(E * cell_px, K * cell_px, 3)`` uint8 image of an edges x ops probability matrix
    (viridis, 0 -> dark, 1 -> yellow; each row is an edge)."""
    import numpy as np
    from matplotlib import colormaps

    probs = np.clip(np.asarray(matrix, dtype=np.float64), 0.0, 1.0)
    rgb = (colormaps["viridis"](probs)[..., :3] * 255).round().astype(np.uint8)
    return np.repeat(np.repeat(rgb, cell_px, axis=0), cell_px, axis=1)


def flat_recipe(recipe: Any) -> dict[str, Any]:
    """The resolved recipe as ``{"search.epochs": 50, ...}`` (scalars; lists as text): the run
    parameters a tracker records."""
    from automl_nas.recipe.converter import unstructure

    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif node is not None:
            out[prefix[:-1]] = node if isinstance(node, (bool, int, float, str)) else str(node)

    walk(unstructure(recipe), "")
    return out
