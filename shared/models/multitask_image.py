"""`multitask_image`: a 2-D ResNet on the rendered ECG image, one shared backbone for several task heads.

The study trained on scanned ECG printouts; here the printout is rendered from the signals inside the model
(`shared.models.ecg_image.render_ecg_image`), so the model reads the same picture a cardiologist reads while
hospitals still share signal-based data pipelines. One backbone feeds every task head (the study's scar and
LVEF heads; any tasks here), and clinical features join at the heads. The backbone's feature map is pooled
panel by panel, so the heads know which lead (which part of the page) a finding came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shared.data.images import IMAGE_HEIGHT, IMAGE_WIDTH, PIXELS_PER_MV
from shared.models.blocks import ResidualBlock
from shared.models.ecg_image import LINE_WIDTH, PAGE_ROWS, PANEL_ROWS, render_ecg_image
from shared.models.heads import ECGBackbone
from shared.models.normalization import norm2d


class MultitaskImageNet(ECGBackbone):
    """Backbone mapping signals `(batch, 12, samples)` to features of their rendered image.

    It also reads ECG images directly, `(batch, 1, image_height, image_width)` ink intensities as the image
    layout loads them (`shared.data.images`), and then skips the rendering.
    """

    reads_images = True

    def __init__(
        self,
        *,
        dp: bool = False,
        image_height: int = IMAGE_HEIGHT,
        image_width: int = IMAGE_WIDTH,
        pixels_per_mv: float = PIXELS_PER_MV,
        line_width: float = LINE_WIDTH,
        grid: bool = False,
        widths: Sequence[int] = (16, 32, 64, 128),
        blocks_per_stage: int = 1,
        stem_kernel_size: int = 3,
        time_shift: float = 0.25,
    ) -> None:
        super().__init__()
        if not 0.0 <= time_shift < 1.0:
            raise ValueError(f"time_shift is a fraction of the record in [0, 1), got {time_shift}")
        # In training each record is shifted in time by up to this fraction of its length before it is drawn,
        # so every epoch shows other beats in each panel: without it the model memorised its training pages
        # (validation AUROC for `mi` 0.77-0.81 by epoch 2, then 0.74-0.75 to epoch 6 on the learning test's
        # hospitals); with a quarter of the record it kept learning, to 0.87 at epoch 6.
        self.time_shift = time_shift
        self.image_height, self.image_width = image_height, image_width
        self.pixels_per_mv, self.line_width, self.grid = pixels_per_mv, line_width, grid
        # ResNet's stem: a stride-2 convolution and max pooling. The pooling keeps a thin trace's features
        # wherever within its window the line falls, which a single stride-4 convolution did not (that model
        # memorised its training pages). A 3x3 kernel: the stem's cost lies in its full-size feature map.
        self.stem = nn.Sequential(
            nn.Conv2d(1, widths[0], stem_kernel_size, stride=2, padding=stem_kernel_size // 2, bias=False),
            norm2d(widths[0], dp),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        blocks: list[nn.Module] = []
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(in_channels, width, 3, stride, dims=2, dp=dp))
                in_channels = width
        self.stages = nn.Sequential(*blocks)
        # Pool each panel of the page separately rather than the whole page, then combine the panels with one
        # convolution whose kernel covers the page: the diagnosis depends on which leads show a change (the
        # infarct territory), which a global average would forget, and a flat panel-by-feature vector would
        # give the heads more inputs than a hospital has records. No normalisation after it: its output is
        # one value per channel and record, which BatchNorm cannot normalise in a batch of one.
        page_grid = (PAGE_ROWS, len(PANEL_ROWS[0]))
        self.panels = nn.AdaptiveAvgPool2d(page_grid)
        self.combine_panels = nn.Sequential(nn.Conv2d(in_channels, in_channels, page_grid), nn.ReLU())
        self.out_features = in_channels

    def render(self, signals: torch.Tensor) -> torch.Tensor:
        """The image this backbone sees for `signals`: `(batch, 1, image_height, image_width)`."""
        return render_ecg_image(
            signals,
            height=self.image_height,
            width=self.image_width,
            pixels_per_mv=self.pixels_per_mv,
            line_width=self.line_width,
            grid=self.grid,
        )

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        if signals.ndim == 3 and self.training and self.time_shift > 0:
            signals = shift_in_time(signals, self.time_shift)
        image = self.render(signals) if signals.ndim == 3 else signals
        expected = (1, self.image_height, self.image_width)
        if tuple(image.shape[1:]) != expected:
            raise ValueError(
                f"ECG images must have shape (batch, {', '.join(map(str, expected))}) for this model, "
                f"got {tuple(image.shape)}"
            )
        feature_map = self.stages(self.stem(image))
        return self.combine_panels(self.panels(feature_map)).flatten(1)


def shift_in_time(signals: torch.Tensor, max_fraction: float) -> torch.Tensor:
    """Each record of `(batch, leads, samples)` rolled in time, all leads together, by a random number of
    samples up to `max_fraction` of its length either way (torch's global generator, which the hospital seeds
    each round)."""
    batch, leads, samples = signals.shape
    largest = int(max_fraction * samples)
    shifts = torch.randint(-largest, largest + 1, (batch,), device=signals.device)
    index = (torch.arange(samples, device=signals.device)[None, :] - shifts[:, None]) % samples
    return torch.gather(signals, 2, index[:, None, :].expand(-1, leads, -1))
