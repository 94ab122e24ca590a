"""The residual block shared by the convolutional architectures, in 1-D (time) or 2-D (leads x time, image).

One definition serves `resnet1d` (1-D kernels over time), `ecg_smart_net` (2-D with `1 x k` kernels, so each
lead is filtered separately) and `multitask_image` (2-D `3 x 3` kernels over the rendered image).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from shared.models.normalization import norm1d, norm2d

KernelSize = int | tuple[int, int]


def _same_padding(kernel_size: KernelSize) -> KernelSize:
    """Padding that keeps the length of an odd kernel's output equal to its input (before striding)."""
    if isinstance(kernel_size, int):
        return kernel_size // 2
    return (kernel_size[0] // 2, kernel_size[1] // 2)


class ResidualBlock(nn.Module):
    """conv-norm-ReLU-conv-norm plus a (projected when the shape changes) shortcut, then ReLU.

    `dims` is 1 for `(batch, channels, time)` inputs and 2 for `(batch, channels, height, width)`.
    Activations are never modified in place, because Opacus' per-sample gradient hooks forbid it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: KernelSize,
        stride: KernelSize = 1,
        *,
        dims: int = 1,
        dp: bool = False,
    ) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {dims}")
        conv: Callable[..., nn.Module] = nn.Conv1d if dims == 1 else nn.Conv2d
        norm = norm1d if dims == 1 else norm2d
        padding = _same_padding(kernel_size)
        self.main = nn.Sequential(
            conv(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            norm(out_channels, dp),
            nn.ReLU(),
            conv(out_channels, out_channels, kernel_size, padding=padding, bias=False),
            norm(out_channels, dp),
        )
        strided = stride != 1 and stride != (1, 1)
        self.shortcut: nn.Module = (
            nn.Sequential(
                conv(in_channels, out_channels, 1, stride=stride, bias=False), norm(out_channels, dp)
            )
            if strided or in_channels != out_channels
            else nn.Identity()
        )
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.main(x) + self.shortcut(x))
