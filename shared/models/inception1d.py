"""`inception1d`: a 1-D Inception network, the form that did best on 30 conditions at 75 Hz.

Each Inception module squeezes its input with a 1x1 bottleneck, runs parallel convolutions of three kernel
sizes on it (short, medium and long waveform patterns at once) beside a max-pool branch, and concatenates the
four branches. A residual shortcut skips over every three modules. The time axis keeps full resolution until
global average pooling, so the cost grows with the sampling rate and a kernel of k samples spans k / rate
seconds: at 75 Hz (the study's best rate) the same kernels see longer stretches of the beat for less compute.
The defaults (16 filters; kernels of 5, 11 and 23 samples, 0.05-0.23 s at 100 Hz, about 1.3 s of receptive
field over six modules) keep it trainable on a CPU; the study-like (9, 19, 39) costs about 1.6x more.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.models.heads import ECGBackbone
from shared.models.normalization import norm1d


class InceptionModule(nn.Module):
    """Bottleneck, parallel convolutions of `kernel_sizes` and a max-pool branch, concatenated."""

    def __init__(
        self, in_channels: int, filters: int, kernel_sizes: Sequence[int], bottleneck: int, dp: bool
    ) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(in_channels, bottleneck, 1, bias=False)
        self.branches = nn.ModuleList(
            nn.Conv1d(bottleneck, filters, k, padding=k // 2, bias=False) for k in kernel_sizes
        )
        self.pool_branch = nn.Sequential(
            nn.MaxPool1d(3, stride=1, padding=1), nn.Conv1d(in_channels, filters, 1, bias=False)
        )
        self.out_channels = filters * (len(kernel_sizes) + 1)
        self.norm = norm1d(self.out_channels, dp)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.bottleneck(x)
        branches = [branch(squeezed) for branch in self.branches] + [self.pool_branch(x)]
        return self.activation(self.norm(torch.cat(branches, dim=1)))


class Inception1d(ECGBackbone):
    """Backbone mapping signals `(batch, leads, samples)` to features `(batch, out_features)`.

    `depth` must be a multiple of `modules_per_shortcut` so every module sits under one shortcut.
    """

    def __init__(
        self,
        *,
        dp: bool = False,
        leads: int = 12,
        depth: int = 6,
        filters: int = 16,
        kernel_sizes: Sequence[int] = (5, 11, 23),
        bottleneck: int = 16,
        modules_per_shortcut: int = 3,
    ) -> None:
        super().__init__()
        if depth % modules_per_shortcut:
            raise ValueError(
                f"inception1d depth ({depth}) must be a multiple of "
                f"modules_per_shortcut ({modules_per_shortcut})"
            )
        self.groups = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        in_channels = leads
        for _ in range(depth // modules_per_shortcut):
            modules: list[nn.Module] = []
            group_input = in_channels
            for _ in range(modules_per_shortcut):
                module = InceptionModule(in_channels, filters, kernel_sizes, bottleneck, dp)
                modules.append(module)
                in_channels = module.out_channels
            self.groups.append(nn.Sequential(*modules))
            self.shortcuts.append(
                nn.Sequential(nn.Conv1d(group_input, in_channels, 1, bias=False), norm1d(in_channels, dp))
            )
        self.activation = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.out_features = in_channels

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        x = signals
        for group, shortcut in zip(self.groups, self.shortcuts, strict=True):
            x = self.activation(group(x) + shortcut(x))
        return self.pool(x).flatten(1)
