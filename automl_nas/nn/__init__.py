"""Public supernet building blocks for search spaces: mixed ops and the exact fusion toolkit.

A search space builds its supernet cells from :class:`MixedOp` (and :class:`PartialMixedOp` for
partial-channel connections), so that every sampler plugs in through
:class:`~automl_nas.api.EdgeWeights` alone. The fusion helpers (:mod:`automl_nas.nn.fused`,
:func:`depthwise_conv2d`) are what both shipped spaces' fast paths are built from; each
computes the same function as the plain modules (the spaces' equality tests compare them).
Importing this package imports torch.
"""

from __future__ import annotations

from automl_nas.nn.depthwise import depthwise_conv2d
from automl_nas.nn.fused import (
    batch_norm,
    batch_norm_group,
    cat_channels,
    concat_shuffle,
    conv,
    relu_conv_bn_group,
    shares_batch_norm_output,
    shuffle_split,
    split_dense,
    sum_terms,
    track_batch_norm,
    weighted_sum,
)
from automl_nas.nn.mixed_op import MixedOp, PartialMixedOp, channel_shuffle, set_fast_paths

__all__ = [
    "MixedOp",
    "PartialMixedOp",
    "batch_norm",
    "batch_norm_group",
    "cat_channels",
    "channel_shuffle",
    "concat_shuffle",
    "conv",
    "depthwise_conv2d",
    "relu_conv_bn_group",
    "set_fast_paths",
    "shares_batch_norm_output",
    "shuffle_split",
    "split_dense",
    "sum_terms",
    "track_batch_norm",
    "weighted_sum",
]
