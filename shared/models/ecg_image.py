"""Rendering 12-lead signals as a standard printed ECG image, differentiably and for a whole batch at once.

The page follows the usual 12-lead printout: three rows of four columns, each column a quarter of the record
(2.5 s of a 10-s ECG) of a different lead,

    I    aVR  V1  V4
    II   aVL  V2  V5
    III  aVF  V3  V6

and a fourth row with lead II over the full record (the rhythm strip). Because the column of pixel x always
shows the moment x / width of the record, every row is one gather from the 12 leads resampled to the image
width. Each pixel column draws the vertical extent the trace covers there (its minimum to maximum, joined to
its neighbours' midpoints so the line is continuous), and pixel intensity falls off as a Gaussian of the
distance to that extent: smooth, so gradients reach the signal, and sharp QRS complexes stay visible even when
many samples fall into one pixel column.

Before drawing, each lead's baseline wander is removed (its moving average over a tenth of the record, about
1 s, is subtracted), as an electrocardiograph filters the baseline before it prints: on a wandering trace the
ST segment's height above the baseline, which the MI task turns on, is lost in where the trace happens to sit
in its row.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from shared.data.images import IMAGE_HEIGHT, IMAGE_WIDTH, PIXELS_PER_MV

#: Lead indices (in `shared.data.dataset.LEADS` order) of each column in the three panel rows.
PANEL_ROWS: tuple[tuple[int, ...], ...] = ((0, 3, 6, 9), (1, 4, 7, 10), (2, 5, 8, 11))
#: Lead shown across the full width in the bottom row.
RHYTHM_LEAD = 1
#: Rows of the page: the three panel rows and the rhythm strip.
PAGE_ROWS = len(PANEL_ROWS) + 1
#: Full width of the trace in pixels (at about 60 % intensity) on the standard page. Thicker than a printed
#: trace: the image model learned more in three epochs from 2.5-pixel lines than from 1.5-pixel ones.
LINE_WIDTH = 2.5
#: Window of the baseline estimate, as a fraction of the record (1 s of a 10-s ECG): subtracting the
#: moving average removes wander slower than about 0.5 Hz and keeps the ST segment's level within each beat.
BASELINE_WINDOW = 0.1
#: Fine grid: vertical lines every 1/50 of the record (0.2 s of a 10-s ECG), horizontal every 0.5 mV.
_GRID_COLUMNS = 50
_GRID_MV = 0.5


def _lead_of_pixel(width: int, device: torch.device) -> torch.Tensor:
    """`(PAGE_ROWS, width)` index of the lead drawn at each pixel column of each row."""
    columns = len(PANEL_ROWS[0])
    column_of_pixel = torch.div(torch.arange(width, device=device) * columns, width, rounding_mode="floor")
    panel = torch.tensor(PANEL_ROWS, device=device)[:, column_of_pixel]
    rhythm = torch.full((1, width), RHYTHM_LEAD, device=device)
    return torch.cat([panel, rhythm], dim=0)


def remove_baseline(signals: torch.Tensor, window: float = BASELINE_WINDOW) -> torch.Tensor:
    """`(batch, leads, samples)` minus each lead's moving average over `window` of the record (edges held)."""
    size = max(1, int(window * signals.shape[-1])) | 1  # odd, so the average is centred on its sample
    padded = F.pad(signals, (size // 2, size // 2), mode="replicate")
    return signals - F.avg_pool1d(padded, size, stride=1)


def _trace_extent(signals: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lowest and highest mV the trace covers in each pixel column, each `(batch, PAGE_ROWS, width)`."""
    low = -F.adaptive_max_pool1d(-signals, width)
    high = F.adaptive_max_pool1d(signals, width)
    centre = F.adaptive_avg_pool1d(signals, width)
    lead = _lead_of_pixel(width, signals.device)
    pixel = torch.arange(width, device=signals.device)
    low, high, centre = (values[:, lead, pixel] for values in (low, high, centre))
    # Join each column to the midpoints with its neighbours, except across panel borders (the lead changes).
    same_lead_left = F.pad(lead[:, 1:] == lead[:, :-1], (1, 0))
    same_lead_right = F.pad(lead[:, :-1] == lead[:, 1:], (0, 1))
    left = torch.where(same_lead_left, torch.roll(centre, 1, dims=-1), centre)
    right = torch.where(same_lead_right, torch.roll(centre, -1, dims=-1), centre)
    mid_left, mid_right = (centre + left) / 2, (centre + right) / 2
    low = torch.minimum(low, torch.minimum(mid_left, mid_right))
    high = torch.maximum(high, torch.maximum(mid_left, mid_right))
    return low, high


def render_ecg_image(
    signals: torch.Tensor,
    *,
    height: int = IMAGE_HEIGHT,
    width: int = IMAGE_WIDTH,
    pixels_per_mv: float = PIXELS_PER_MV,
    line_width: float = LINE_WIDTH,
    grid: bool = False,
    grid_intensity: float = 0.25,
    baseline_window: float = BASELINE_WINDOW,
) -> torch.Tensor:
    """Render `(batch, 12, samples)` signals in millivolts as `(batch, 1, height, width)` images in [0, 1].

    Ink is 1 and paper 0. `height` is split into four equal rows (three panel rows and the lead II rhythm
    strip), each with its baseline in the middle; a trace leaving its row is clipped. `line_width` is the
    Gaussian's full width in pixels at about 60 % intensity. With `grid`, a fine ECG-paper grid is drawn
    under the traces (the study's images came both with and without one). `baseline_window` is the moving
    average removed first (a fraction of the record; 0 draws the signals as they are).
    """
    if signals.ndim != 3 or signals.shape[1] != 12:
        raise ValueError(
            f"render_ecg_image expects signals of shape (batch, 12, samples), got {tuple(signals.shape)}"
        )
    if height % PAGE_ROWS:
        raise ValueError(f"image height ({height}) must be a multiple of {PAGE_ROWS} (one band per row)")
    if not 0.0 <= baseline_window < 1.0:
        raise ValueError(f"baseline_window is a fraction of the record in [0, 1), got {baseline_window}")
    if baseline_window > 0:
        signals = remove_baseline(signals, baseline_window)
    row_height = height // PAGE_ROWS
    low, high = _trace_extent(signals, width)
    baseline = row_height / 2
    # Image rows grow downwards, so higher voltages sit at smaller pixel rows.
    top = baseline - high * pixels_per_mv
    bottom = baseline - low * pixels_per_mv
    pixel_rows = torch.arange(row_height, device=signals.device, dtype=signals.dtype).view(1, 1, -1, 1) + 0.5
    distance = F.relu(top.unsqueeze(2) - pixel_rows) + F.relu(pixel_rows - bottom.unsqueeze(2))
    sigma = line_width / 2
    ink = torch.exp(-0.5 * (distance / sigma) ** 2)  # (batch, PAGE_ROWS, row_height, width)
    image = ink.reshape(signals.shape[0], 1, height, width)
    if grid:
        image = image + (1 - image) * grid_intensity * _grid(height, width, row_height, pixels_per_mv, image)
    return image


def _grid(height: int, width: int, row_height: int, pixels_per_mv: float, like: torch.Tensor) -> torch.Tensor:
    """`(height, width)` mask of fine-grid lines aligned with each row's baseline."""
    columns = torch.arange(width, device=like.device)
    vertical = (columns * _GRID_COLUMNS) % width < _GRID_COLUMNS  # the first pixel of each grid cell
    rows = torch.arange(height, device=like.device) % row_height - row_height // 2
    spacing = max(1, round(_GRID_MV * pixels_per_mv))
    horizontal = rows % spacing == 0
    return (vertical.view(1, -1) | horizontal.view(-1, 1)).to(like.dtype)


def save_ecg_image_png(image: torch.Tensor, path: str | Path) -> Path:
    """Save one rendered image (`(1, H, W)` or `(H, W)`, ink = 1) as a PNG, dark ink on white paper."""
    import matplotlib.image  # imported here: only tools that write images need matplotlib

    pixels = image.detach().to("cpu", torch.float32).squeeze()
    if pixels.ndim != 2:
        raise ValueError(
            f"save_ecg_image_png expects one image (1, H, W) or (H, W), got {tuple(image.shape)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, 1.0 - pixels.clamp(0, 1).numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    return path
