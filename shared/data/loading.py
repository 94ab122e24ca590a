"""`load_dataset`: from a hospital's ECG folder to a preprocessed, labelled `ECGDataset`.

The steps: detect the layout; return the cached arrays when no input file and no setting changed;
otherwise list the records (metadata only), read and check every record with wfdb (ECG images with
Pillow), preprocess the usable ones, label them for the requested tasks, and store the result in the
preprocessed cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from shared.data import cache as preprocessed_cache
from shared.data.dataset import (
    BASE_CLINICAL_FEATURES,
    LEADS,
    DataError,
    ECGDataset,
    RecordInfo,
    SkippedRecord,
)
from shared.data.images import IMAGE_SHAPE, read_image
from shared.data.layouts import (
    HOSPITAL_BY_CHOICES,
    LAYOUTS,
    ListedRecord,
    Listing,
    detect_layout,
    image,
    ptbxl,
)
from shared.data.preprocess import PreprocessConfig
from shared.data.records import ReadSignal, UnusableRecord, read_record
from shared.data.tasks import get_task


def load_dataset(
    path: str | Path,
    *,
    layout: str = "auto",
    hospital_by: str = "auto",
    tasks: Sequence[str] = ("mi",),
    sample_rate: int = 100,
    duration_s: float = 10.0,
    records: str = "auto",
    bandpass: tuple[float, float] | None = None,
    hospital: str | None = None,
    hospital_name: str | None = None,
    min_duration_s: float | None = None,
    cache: bool = True,
    progress: bool = True,
) -> ECGDataset:
    """Load, check and preprocess every record under `path`.

    layout: "auto", "ptbxl", "challenge", "plain" or "image". hospital_by: "auto" (site for PTB-XL, source
    for the Challenge, dir for plain and image folders with sub-folders, else none), "site", "source", "dir"
    or "none".
    records: PTB-XL variant, "100", "500" or "auto" (100 Hz files when present). Signals become
    (12, sample_rate * duration_s) millivolts: longer records are cropped from the start, shorter ones
    zero-padded, and records shorter than `min_duration_s` (default: half of `duration_s`) skipped.
    The image layout holds ECG images instead: `signals` is then `(n, *IMAGE_SHAPE)` ink intensities and the
    signal settings do not apply (see `shared.data.images`).
    hospital: load only that hospital. hospital_name: the id all records get with hospital_by="none"
    (default: the folder's name). Unusable records are listed in `skipped` with their reason.
    Raises DataError when the folder as a whole cannot be read.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    layout_name = detect_layout(root) if layout == "auto" else layout
    if layout_name not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from auto, {', '.join(LAYOUTS)}")
    if hospital_by not in HOSPITAL_BY_CHOICES:
        raise ValueError(f"unknown hospital_by {hospital_by!r}; choose from {', '.join(HOSPITAL_BY_CHOICES)}")
    if records not in ptbxl.RECORDS_CHOICES:
        raise ValueError(f"records must be one of {', '.join(ptbxl.RECORDS_CHOICES)}, got {records!r}")
    if layout_name == ptbxl.NAME:
        records = ptbxl.resolve_records(root, records)  # "auto" and the rate it picks share cache entries
    elif records != "auto":
        raise DataError(f"{root}: records={records} applies to the PTB-XL layout only, not {layout_name}")
    task_list = [get_task(name) for name in dict.fromkeys(tasks)]
    if not task_list:
        raise ValueError("at least one task is needed")
    config = PreprocessConfig(
        sample_rate=sample_rate,
        duration_s=duration_s,
        min_duration_s=duration_s / 2 if min_duration_s is None else min_duration_s,
        bandpass=None if bandpass is None else (float(bandpass[0]), float(bandpass[1])),
    )
    layout_module = LAYOUTS[layout_name]
    hospital_name = hospital_name or root.resolve().name

    key = preprocessed_cache.cache_key(
        {
            "layout": layout_name,
            "hospital_by": hospital_by,
            "hospital_name": hospital_name,
            "hospital": hospital,
            "records": records,
            "tasks": [t.name for t in task_list],
            "preprocess": [config.sample_rate, config.duration_s, config.min_duration_s, config.bandpass],
        },
        root,
        layout_module.input_files(root, records),
    )
    if cache:
        cached = preprocessed_cache.load(key)
        if cached is not None:
            return cached

    listing = layout_module.list_records(
        root, hospital_by=hospital_by, hospital_name=hospital_name, records=records
    )
    if hospital is not None:
        listing = listing.only_hospital(hospital, root)
    if not listing.records and not listing.skipped:
        raise DataError(f"{root}: the {layout_name} layout lists no records")

    shape: tuple[int, ...]  # of one record: (1, height, width) for an image, (leads, samples) for a signal
    if layout_name == image.NAME:
        read, shape = read_image, IMAGE_SHAPE
    else:
        read, shape = partial(read_record, config=config), (len(LEADS), config.n_samples)
    usable, signals, skipped = _read_records(root, listing, read, shape, progress)
    clinical_names = (*BASE_CLINICAL_FEATURES, *listing.extra_clinical_names)
    dataset = ECGDataset(
        layout=layout_name,
        root=root,
        sample_rate=config.sample_rate,
        duration_s=config.duration_s,
        signals=signals,
        records=usable,
        labels={task.name: task.encode([r.codes for r in usable]) for task in task_list},
        label_names={task.name: task.label_names for task in task_list},
        clinical=_clinical_matrix(listing, usable),
        clinical_names=clinical_names,
        records_found=len(listing.records) + len(listing.skipped),
        skipped=listing.skipped + skipped,
    )
    return preprocessed_cache.store(key, dataset) if cache else dataset


def _read_records(
    root: Path,
    listing: Listing,
    read: Callable[[Path, str], ReadSignal],
    shape: tuple[int, ...],
    show_progress: bool,
) -> tuple[list[RecordInfo], np.ndarray, list[SkippedRecord]]:
    """Read every listed record with `read`; usable ones fill a preallocated `(records, *shape)` array, the
    others become SkippedRecords."""
    signals = np.empty((len(listing.records), *shape), dtype=np.float32)
    usable: list[RecordInfo] = []
    skipped: list[SkippedRecord] = []
    with _progress_bar(show_progress) as bar:
        task = bar.add_task(f"reading {root.name}", total=len(listing.records))
        for listed in listing.records:
            try:
                read_signal = read(root, listed.record)
            except UnusableRecord as unusable:
                skipped.append(SkippedRecord(listed.record, unusable.reason, listed.hospital))
            else:
                signals[len(usable)] = read_signal.signal
                usable.append(_record_info(listed, read_signal.source_rate, read_signal.flags))
            bar.advance(task)
    return usable, signals[: len(usable)], skipped


def _progress_bar(enabled: bool) -> Progress:
    # stderr, so that `data check --json` keeps stdout clean for the JSON object
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def _record_info(listed: ListedRecord, source_rate: float, signal_flags: tuple[str, ...]) -> RecordInfo:
    return RecordInfo(
        record=listed.record,
        patient_id=listed.patient_id,
        hospital=listed.hospital,
        age=listed.age,
        sex=listed.sex,
        codes=listed.codes,
        source_rate=source_rate,
        strat_fold=listed.strat_fold,
        flags=listed.flags + signal_flags,
    )


def _clinical_matrix(listing: Listing, usable: list[RecordInfo]) -> np.ndarray:
    """Columns age, sex_male, then the layout's extras; NaN where unknown (imputed by the model)."""
    extras = {listed.record: listed.extra_clinical for listed in listing.records}
    rows = [
        (
            math.nan if record.age is None else record.age,
            {"M": 1.0, "F": 0.0}.get(record.sex or "", math.nan),
            *extras[record.record],
        )
        for record in usable
    ]
    width = len(BASE_CLINICAL_FEATURES) + len(listing.extra_clinical_names)
    return np.array(rows, dtype=np.float32).reshape(len(usable), width)
