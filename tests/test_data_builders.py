"""Builders of small WFDB folders for the data-layer tests (this module holds no tests itself)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb

from shared.data import LEADS


def ecg_like(fs: float, seconds: float, n_leads: int = 12) -> np.ndarray:
    """A deterministic (samples, leads) millivolt signal: per-lead sines of distinct frequency and size."""
    t = np.arange(round(fs * seconds)) / fs
    leads = [(0.2 + 0.1 * lead) * np.sin(2 * np.pi * (1.0 + 0.25 * lead) * t) for lead in range(n_leads)]
    return np.stack(leads, axis=1)


def write_record(
    folder: Path,
    name: str,
    signal: np.ndarray,
    fs: float,
    *,
    sig_names: Sequence[str] = LEADS,
    units: str = "mV",
    gain: float = 1000.0,
    comments: Sequence[str] = (),
) -> None:
    """Write (samples, leads) `signal` (in `units`) as WFDB format 16 with wfdb's own writer."""
    folder.mkdir(parents=True, exist_ok=True)
    n = signal.shape[1]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * n,
        sig_name=list(sig_names),
        p_signal=signal,
        fmt=["16"] * n,
        adc_gain=[gain] * n,
        baseline=[0] * n,
        comments=list(comments),
        write_dir=str(folder),
    )


def mini_ptbxl(destination: Path, source: Path, ecg_ids: Sequence[int]) -> Path:
    """A PTB-XL folder holding only `ecg_ids` (CSV rows and their 100 Hz files), copied from `source`."""
    destination.mkdir(parents=True, exist_ok=True)
    with (source / "ptbxl_database.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if int(row["ecg_id"]) in set(ecg_ids)]
        columns = reader.fieldnames or []
    with (destination / "ptbxl_database.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    shutil.copy(source / "scp_statements.csv", destination)
    for row in rows:
        record = source / row["filename_lr"]
        target = destination / row["filename_lr"]
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".dat"):
            shutil.copy(record.with_suffix(suffix), target.with_suffix(suffix))
    return destination
