"""Normalisation layers that switch between BatchNorm and GroupNorm for differential privacy.

DP-SGD needs a per-sample gradient for every sample, so no layer may mix samples of a batch: BatchNorm does
(its statistics are batch-wide and its running buffers would leak them), GroupNorm does not. Every
architecture asks this module for its normalisation so the `dp` switch lives in one place.
"""

from __future__ import annotations

import math

from torch import nn

#: Upper bound on GroupNorm groups; fewer when the channel count does not allow it.
_MAX_GROUPS = 8


def _group_count(channels: int) -> int:
    """The largest divisor of `channels` up to `_MAX_GROUPS` (GroupNorm groups must divide the channels)."""
    return math.gcd(channels, _MAX_GROUPS)


def norm1d(channels: int, dp: bool) -> nn.Module:
    """Normalisation for `(batch, channels, time)`: BatchNorm1d, or GroupNorm when `dp`."""
    return nn.GroupNorm(_group_count(channels), channels) if dp else nn.BatchNorm1d(channels)


def norm2d(channels: int, dp: bool) -> nn.Module:
    """Normalisation for `(batch, channels, height, width)`: BatchNorm2d, or GroupNorm when `dp`."""
    return nn.GroupNorm(_group_count(channels), channels) if dp else nn.BatchNorm2d(channels)
