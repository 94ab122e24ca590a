"""The image layout: ECG images plus labels.csv, loaded, checked, and trained on by multitask_image.

The images are synthetic ECGs drawn by the model's own renderer and saved as PNG files, so a hospital's
image folder and the signals it came from can be compared pixel by pixel.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_data_builders import ecg_like, write_record

from client.training import make_loader, make_optimizer, train_epochs
from shared.commands.cli import main
from shared.config import RunConfig, default_run_config
from shared.data import DataError, ECGDataset, census, load_dataset
from shared.data.images import IMAGE_HEIGHT, IMAGE_SHAPE, IMAGE_WIDTH
from shared.data.synthetic import generate_hospitals
from shared.models import create_model, render_ecg_image, save_ecg_image_png

LABEL_COLUMNS = ("record", "patient", "age", "sex", "codes")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> ECGDataset:
    """Two small synthetic hospitals as signals: what the image folders are drawn from."""
    root = tmp_path_factory.mktemp("image-source") / "hospitals"
    generate_hospitals(
        root, hospitals=2, records_per_hospital=8, seed=3, sample_rate=100, mi_prevalence=(0.5, 0.5)
    )
    return load_dataset(root, tasks=("mi",), cache=False, progress=False)


def _write_image_folder(root: Path, source: ECGDataset) -> list[str]:
    """Each record of `source` as `<hospital>/<n>.png` with its row in labels.csv; returns the record ids."""
    images = render_ecg_image(torch.from_numpy(np.array(source.signals)))
    rows, records = [], []
    for index, (info, image) in enumerate(zip(source.records, images, strict=True)):
        record = f"{info.hospital}/{index:03d}.png"
        save_ecg_image_png(image, root / record)
        age = "" if info.age is None else f"{info.age:g}"
        rows.append((record, info.patient_id, age, info.sex or "", ";".join(info.codes)))
        records.append(record)
    _write_labels(root, rows)
    return records


def _write_labels(root: Path, rows: list[tuple[str, ...]]) -> None:
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)


def test_image_folder_loads_as_ink_images_with_labels_demographics_and_hospitals(
    source: ECGDataset, tmp_path: Path
) -> None:
    records = _write_image_folder(tmp_path, source)

    dataset = load_dataset(tmp_path, tasks=("mi",), progress=False)

    assert dataset.layout == "image"
    assert dataset.hospitals == source.hospitals
    assert [r.record for r in dataset.records] == records
    assert dataset.signals.shape == (len(source), *IMAGE_SHAPE)
    # Ink is 1 and paper 0 again after the PNG round trip, up to two 8-bit roundings (matplotlib's grey
    # colour map, then the PNG).
    rendered = render_ecg_image(torch.from_numpy(np.array(source.signals))).numpy()
    np.testing.assert_allclose(dataset.signals, rendered, atol=2 / 255)
    np.testing.assert_array_equal(dataset.labels["mi"], source.labels["mi"])
    assert 0 < dataset.labels["mi"].sum() < len(dataset)
    assert dataset.clinical_names == ("age", "sex_male")
    np.testing.assert_array_equal(dataset.clinical, source.clinical[:, :2])
    assert [r.patient_id for r in dataset.records] == [r.patient_id for r in source.records]
    assert dataset.skipped == []
    # The second load comes from the preprocessed cache and holds the same images.
    np.testing.assert_array_equal(
        load_dataset(tmp_path, tasks=("mi",), progress=False).signals, dataset.signals
    )


def test_bad_image_files_are_skipped_with_their_reasons(source: ECGDataset, tmp_path: Path) -> None:
    records = _write_image_folder(tmp_path, source)
    hospital = source.hospitals[0]
    (tmp_path / records[0]).write_bytes(b"not a png at all")
    truncated = tmp_path / records[1]
    truncated.write_bytes(truncated.read_bytes()[:200])
    Image.new("L", (IMAGE_WIDTH // 2, IMAGE_HEIGHT // 2), 255).save(tmp_path / records[2])
    (tmp_path / records[3]).unlink()
    Image.new("L", (IMAGE_WIDTH, IMAGE_HEIGHT), 255).save(tmp_path / hospital / "unlisted.jpg")

    dataset = load_dataset(tmp_path, tasks=("mi",), cache=False, progress=False)

    reasons = {s.record: s.reason for s in dataset.skipped}
    assert reasons.keys() == {*records[:4], f"{hospital}/unlisted.jpg"}
    assert reasons[records[0]].startswith(f"unreadable: {records[0]}: cannot identify image file")
    assert reasons[records[1]].startswith(f"unreadable: {records[1]}: ")
    assert reasons[records[2]] == (
        f"wrong image size: {IMAGE_WIDTH // 2}x{IMAGE_HEIGHT // 2} pixels "
        f"(expected {IMAGE_WIDTH}x{IMAGE_HEIGHT}, width x height)"
    )
    assert reasons[records[3]] == f"unreadable: {records[3]}: file not found"
    assert reasons[f"{hospital}/unlisted.jpg"] == "no row in labels.csv"
    assert all(s.hospital == hospital for s in dataset.skipped)
    assert len(dataset) == len(source) - 4 and dataset.records_found == len(source) + 1
    summary = census(dataset)
    assert summary["hospitals"][hospital]["skipped"] == 5
    assert summary["hospitals"][hospital]["sampling_rates"] == {}  # images have none


def test_data_check_reports_an_image_folder(
    source: ECGDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _write_image_folder(tmp_path, source)
    (tmp_path / records[-1]).write_bytes(b"")
    capsys.readouterr()

    assert main(["data", "check", str(tmp_path), "--json"]) == 0

    checked = json.loads(capsys.readouterr().out)
    assert (checked["layout"], checked["records"], checked["usable"]) == (
        "image",
        len(source),
        len(source) - 1,
    )
    assert [s["record"] for s in checked["skipped"]] == [records[-1]]
    assert main(["data", "check", str(tmp_path)]) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .splitlines()[-1]
        .startswith(f"{len(source) - 1} of {len(source)} records usable in 2 hospitals, 1 skipped")
    )


def test_multitask_image_trains_on_loaded_images_and_signal_models_refuse_them(
    source: ECGDataset, tmp_path: Path
) -> None:
    _write_image_folder(tmp_path, source)
    dataset = load_dataset(tmp_path, tasks=("mi",), cache=False, progress=False)
    torch.manual_seed(0)
    model = create_model("multitask_image", tasks={"mi": 1}, clinical_features=dataset.clinical.shape[1])
    before = [p.detach().clone() for p in model.parameters()]
    config = RunConfig.from_flower({**default_run_config(), "model": "multitask_image", "local-epochs": 1})
    loader = make_loader(dataset, ("mi",), batch_size=len(dataset), seed=0, shuffle=True)

    outcome = train_epochs(model, loader, make_optimizer(model, config), config, torch.device("cpu"))

    assert outcome.steps == 1 and outcome.examples == len(dataset) and math.isfinite(outcome.mean_loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    images = torch.from_numpy(np.array(dataset.signals[:2]))
    # The image read from disk and the same ECG rendered from its signals give the model the same features.
    model.eval()
    with torch.no_grad():
        from_images = model.backbone(images)
        from_signals = model.backbone(torch.from_numpy(np.array(source.signals[:2])))
    torch.testing.assert_close(from_images, from_signals, atol=0.05, rtol=0.05)
    with pytest.raises(ValueError, match=r"ECG images need an image model such as multitask_image"):
        create_model("resnet1d", tasks={"mi": 1})(images)
    with pytest.raises(ValueError, match=r"ECG images must have shape \(batch, 1, "):
        model(images[:, :, :-1])


def test_image_layout_needs_its_labels_file_and_never_claims_a_wfdb_folder(tmp_path: Path) -> None:
    Image.new("L", (IMAGE_WIDTH, IMAGE_HEIGHT), 255).save(tmp_path / "a.png")
    with pytest.raises(DataError, match=r"no labels\.csv, which the image layout needs"):
        load_dataset(tmp_path, layout="image", progress=False)
    with pytest.raises(
        DataError, match=r"no WFDB records \(\*\.hea\) found, nor ECG images with a labels\.csv"
    ):
        load_dataset(tmp_path, progress=False)
    # A labels.csv beside WFDB headers stays the plain layout, even with stray images in the folder.
    write_record(tmp_path, "r1", ecg_like(250, 10), 250)
    _write_labels(tmp_path, [("r1", "p1", "60", "M", "NORM")])
    dataset = load_dataset(tmp_path, sample_rate=250, cache=False, progress=False)
    assert (dataset.layout, [r.record for r in dataset.records]) == ("plain", ["r1"])
