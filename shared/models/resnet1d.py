"""`resnet1d`: a plain 1-D residual network over the 12 leads, the baseline for the other models.

A strided stem shortens the signal, then stages of residual blocks (each stage after the first halves the
time axis and widens the channels) and global average pooling over time, so any sampling rate and duration
works. The defaults (about 1M parameters) are sized to train at a few hundred ECGs per second on a laptop CPU
at 100 Hz x 10 s.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.models.blocks import ResidualBlock
from shared.models.heads import ECGBackbone
from shared.models.normalization import norm1d


class ResNet1d(ECGBackbone):
    """Backbone mapping signals `(batch, leads, samples)` to features `(batch, out_features)`."""

    def __init__(
        self,
        *,
        dp: bool = False,
        leads: int = 12,
        widths: Sequence[int] = (48, 64, 96, 144),
        blocks_per_stage: int = 2,
        kernel_size: int = 7,
        stem_kernel_size: int = 15,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(
                leads, widths[0], stem_kernel_size, stride=2, padding=stem_kernel_size // 2, bias=False
            ),
            norm1d(widths[0], dp),
            nn.ReLU(),
            nn.MaxPool1d(kernel_size=3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(in_channels, width, kernel_size, stride, dims=1, dp=dp))
                in_channels = width
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.out_features = in_channels

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(signals))).flatten(1)
