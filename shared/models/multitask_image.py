"""`multitask_image`: a 2-D ResNet on the rendered ECG image, one shared backbone for several task heads.

The study trained on scanned ECG printouts; here the printout is rendered from the signals inside the model
(`shared.models.ecg_image.render_ecg_image`), so the model reads the same picture a cardiologist reads while
hospitals still share signal-based data pipelines. One backbone feeds every task head (the study's scar and
LVEF heads; any tasks here), and clinical features join at the heads. The stem reads each row of the page
whole, the residual stages run over (page row x time), and the feature map is pooled panel by panel, so the
heads know which lead (which part of the page) a finding came from.
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
        stem_kernel_size: int = 7,
        time_shift: float = 0.25,
        evaluation_pages: int = 4,
    ) -> None:
        super().__init__()
        if not 0.0 <= time_shift < 1.0:
            raise ValueError(f"time_shift is a fraction of the record in [0, 1), got {time_shift}")
        if image_height % PAGE_ROWS:
            raise ValueError(
                f"image_height ({image_height}) must be a multiple of {PAGE_ROWS} (one band per row)"
            )
        if evaluation_pages < 1:
            raise ValueError(f"evaluation_pages must be at least 1, got {evaluation_pages}")
        # In training each record is shifted in time by up to this fraction of its length before it is drawn,
        # so every epoch shows other beats in each panel: without it this model's first version (3 x 3 stem)
        # memorised its training pages (validation AUROC for `mi` 0.77-0.81 by epoch 2, then 0.74-0.75 to
        # epoch 6 on the learning test's hospitals); a quarter of the record: 0.87 at epoch 6.
        self.time_shift = time_shift
        # One page shows each lead for a quarter of the record. In evaluation the signals are drawn on this
        # many pages, each starting a further 1/evaluation_pages of the record later, and their features
        # averaged, so every lead is read over the whole record (validation AUROC +0.00 to +0.03 on the
        # learning test's hospitals, three seeds). Images read from files are one page and read once.
        self.evaluation_pages = evaluation_pages
        self.image_height, self.image_width = image_height, image_width
        self.pixels_per_mv, self.line_width, self.grid = pixels_per_mv, line_width, grid
        # The stem reads each row of the page whole: its kernel spans the row's height, so every output column
        # sees the full vertical extent of the trace there (the voltage, as a cardiologist reads it off the
        # paper), and the residual stages then run over (page row x time) with 3 x 3 kernels, comparing the
        # leads drawn one above the other in the same 2.5 s. A ResNet's usual 3 x 3 stem must first assemble
        # the voltage from many small patches: on the learning test's hospitals (baseline removed) it reached
        # validation AUROC 0.78 at epoch 3 (one seed) against 0.84-0.88 here (three seeds), at 5x the cost.
        row_height = image_height // PAGE_ROWS
        self.stem = nn.Sequential(
            nn.Conv2d(
                1,
                widths[0],
                (row_height, stem_kernel_size),
                stride=(row_height, 2),
                padding=(0, stem_kernel_size // 2),
                bias=False,
            ),
            norm2d(widths[0], dp),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1)),
        )
        blocks: list[nn.Module] = []
        in_channels = widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = (1, 2) if stage > 0 and index == 0 else (1, 1)
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
        if signals.ndim == 4:
            return self.read(signals)
        if self.training:
            if self.time_shift > 0:
                signals = shift_in_time(signals, self.time_shift)
            return self.read(self.render(signals))
        samples = signals.shape[-1]
        pages = [
            self.read(self.render(torch.roll(signals, page * samples // self.evaluation_pages, dims=-1)))
            for page in range(self.evaluation_pages)
        ]
        return torch.stack(pages).mean(dim=0)

    def read(self, image: torch.Tensor) -> torch.Tensor:
        """Features `(batch, out_features)` of `(batch, 1, image_height, image_width)` ECG images."""
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
