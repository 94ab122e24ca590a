"""The ECG image renderer (layout, gradients, PNG) and the multi-task image model's shared backbone."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
import wfdb

from shared.data.images import IMAGE_HEIGHT as HEIGHT
from shared.data.images import IMAGE_WIDTH as WIDTH
from shared.losses import binary_cross_entropy
from shared.models import create_model, render_ecg_image, save_ecg_image_png
from shared.models.ecg_image import PAGE_ROWS
from shared.models.multitask_image import shift_in_time

SAMPLES = 1000
ROW_HEIGHT = HEIGHT // PAGE_ROWS


def _ink_moved(signals: torch.Tensor) -> np.ndarray:
    """Boolean `(height, width)` map of pixels whose ink differs from a flat-line ECG's."""
    flat = render_ecg_image(torch.zeros_like(signals))
    return ((render_ecg_image(signals) - flat).abs() > 0.1)[0, 0].numpy()


def _bump(lead: int, at_fraction: float) -> torch.Tensor:
    signals = torch.zeros(1, 12, SAMPLES)
    start = int(at_fraction * SAMPLES)
    signals[0, lead, start : start + 10] = 1.0  # 1 mV for 0.1 s
    return signals


def test_each_lead_appears_in_its_panel_and_lead_ii_in_the_rhythm_strip() -> None:
    v1 = _ink_moved(_bump(lead=6, at_fraction=0.6))  # V1: top row, third column (0.5-0.75 of the record)
    rows, columns = np.nonzero(v1)
    assert rows.max() < ROW_HEIGHT
    assert columns.min() >= WIDTH * 0.5 and columns.max() < WIDTH * 0.75
    assert rows.min() < ROW_HEIGHT // 2  # positive voltage is drawn upwards

    lead_ii = _ink_moved(_bump(lead=1, at_fraction=0.1))  # II: second row, first column, and the rhythm strip
    rows, columns = np.nonzero(lead_ii)
    assert set(rows // ROW_HEIGHT) == {1, 3}
    assert columns.max() < WIDTH * 0.25


def test_rendering_is_differentiable_and_any_length_fills_the_page() -> None:
    signals = (0.5 * torch.randn(2, 12, 750)).requires_grad_()
    image = render_ecg_image(signals, grid=True)
    assert image.shape == (2, 1, HEIGHT, WIDTH)
    assert image.min() >= 0.0 and image.max() <= 1.0
    image.sum().backward()
    assert signals.grad is not None and signals.grad.abs().sum() > 0


def test_real_ecg_is_saved_as_a_png(ptbxl500: Path, tmp_path: Path) -> None:
    record = wfdb.rdrecord(str(ptbxl500 / "records100" / "00000" / "00001_lr"))
    signals = torch.tensor(record.p_signal.T, dtype=torch.float32).unsqueeze(0)
    image = render_ecg_image(signals, height=512, width=1024, pixels_per_mv=40.0, line_width=1.5, grid=True)
    path = save_ecg_image_png(image[0], tmp_path / "00001_lr.png")
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (512, 1024)
    # Dark ink on white paper: mostly bright, with a trace in every one of the four rows.
    brightness = pixels[..., :3].mean(axis=-1)
    assert np.median(brightness) > 0.7
    assert all((band < 0.3).any() for band in np.split(brightness, PAGE_ROWS, axis=0))


def test_both_heads_train_one_shared_backbone() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    labels = {
        "mi": torch.randint(0, 2, (16, 1), generator=generator).float(),
        "hyp": torch.randint(0, 2, (16, 1), generator=generator).float(),
    }
    signals = 0.05 * torch.randn(16, 12, 500, generator=generator)
    # "ST elevation" in V1-V3 for mi: a raised segment in every 50-sample "beat" (a constant offset would be
    # baseline, which the renderer removes as an electrocardiograph does)
    st_segment = (torch.arange(500) % 50 >= 10) & (torch.arange(500) % 50 < 30)
    signals[:, 6:9] += 0.4 * labels["mi"].view(16, 1, 1) * st_segment
    signals[:, :, ::50] += 1.5 * labels["hyp"].view(16, 1, 1)  # tall complexes for hyp
    # A quarter-size page keeps this test fast; the heads and the backbone are the same.
    model = create_model(
        "multitask_image", tasks={"mi": 1, "hyp": 1}, clinical_features=2, image_height=128, image_width=256
    )

    backbone_weight = model.backbone.stem[0].weight
    for task in ("mi", "hyp"):
        model.zero_grad()
        binary_cross_entropy(model(signals)[task], labels[task]).backward()
        assert backbone_weight.grad is not None and backbone_weight.grad.abs().sum() > 0, task

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history: dict[str, list[float]] = {"mi": [], "hyp": []}
    for _ in range(12):
        optimizer.zero_grad()
        outputs = model(signals)
        losses = {task: binary_cross_entropy(outputs[task], labels[task]) for task in history}
        sum(losses.values()).backward()
        optimizer.step()
        for task, loss in losses.items():
            history[task].append(loss.item())
    for task, values in history.items():
        assert values[-1] < 0.5 * values[0], f"{task} loss did not drop: {values}"


def test_training_shifts_each_record_in_time_and_evaluation_does_not() -> None:
    signals = torch.randn(6, 12, 400, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    shifted = shift_in_time(signals, 0.25)
    shifts = []
    for original, moved in zip(signals, shifted, strict=True):
        matching = [k for k in range(-100, 101) if torch.equal(torch.roll(original, k, dims=1), moved)]
        assert len(matching) == 1  # every lead moved together, by at most a quarter of the record
        shifts.append(matching[0])
    assert len(set(shifts)) > 1  # each record its own shift
    torch.manual_seed(0)
    assert torch.equal(shift_in_time(signals, 0.25), shifted)  # reproducible from the seed

    model = create_model("multitask_image", tasks={"mi": 1}, clinical_features=2)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(signals)["mi"], model(signals)["mi"])
        model.train()
        assert not torch.equal(model(signals)["mi"], model(signals)["mi"])
        still = create_model("multitask_image", tasks={"mi": 1}, clinical_features=2, time_shift=0.0).train()
        assert torch.equal(still(signals)["mi"], still(signals)["mi"])


def test_baseline_wander_is_removed_before_drawing() -> None:
    # Lead II drifting by 1.5 mV over the record, with a 1-mV spike every second: the rhythm strip.
    signals = torch.zeros(1, 12, SAMPLES)
    signals[0, 1] = torch.linspace(0.0, 1.5, SAMPLES)
    signals[0, 1, ::100] += 1.0
    strip = slice(3 * ROW_HEIGHT, 4 * ROW_HEIGHT)

    def ink_centre(image: torch.Tensor, columns: slice) -> float:
        ink = image[0, 0, strip, columns]
        rows = torch.arange(ROW_HEIGHT, dtype=ink.dtype).view(-1, 1)
        return float((ink * rows).sum() / ink.sum())

    # Away from the ends, where the moving average holds the edge value: 0.1-0.2 and 0.8-0.9 of the record.
    early, late = slice(WIDTH // 10, WIDTH // 5), slice(4 * WIDTH // 5, 9 * WIDTH // 10)
    drifting = render_ecg_image(signals, baseline_window=0.0)
    filtered = render_ecg_image(signals)
    assert ink_centre(drifting, early) - ink_centre(drifting, late) > 15  # 1.05 mV at 20 px/mV, drawn upwards
    assert abs(ink_centre(filtered, early) - ink_centre(filtered, late)) < 2
    # The spikes stand as tall on the filtered trace as on the raw one.
    spike_rows = [(image[0, 0, strip] > 0.5).any(dim=1).sum().item() for image in (drifting, filtered)]
    assert spike_rows[1] >= 15


def test_evaluation_reads_every_lead_over_the_whole_record() -> None:
    # A bump in V1 in the first tenth of the record: the standard page shows V1 only from 0.5 to 0.75.
    quiet = torch.zeros(1, 12, SAMPLES)
    bumped = _bump(lead=6, at_fraction=0.1)
    assert not _ink_moved(bumped)[:ROW_HEIGHT, WIDTH // 2 : 3 * WIDTH // 4].any()
    for pages, sees_it in ((1, False), (4, True)):
        torch.manual_seed(0)
        model = create_model("multitask_image", tasks={"mi": 1}, clinical_features=2, evaluation_pages=pages)
        with torch.no_grad():
            changed = not torch.equal(model.eval()(quiet)["mi"], model(bumped)["mi"])
        assert changed == sees_it, pages


def test_bad_page_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        create_model("multitask_image", tasks={"mi": 1}, clinical_features=2, image_height=250)
    with pytest.raises(ValueError, match="evaluation_pages"):
        create_model("multitask_image", tasks={"mi": 1}, clinical_features=2, evaluation_pages=0)
    with pytest.raises(ValueError, match="baseline_window"):
        render_ecg_image(torch.zeros(1, 12, SAMPLES), baseline_window=1.5)
