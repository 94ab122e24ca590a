"""The in-memory view of one hospital folder (or a multi-hospital dataset) after loading.

`ECGDataset` is the single object the rest of cardiofed consumes: the federation's clients train on it,
`cardiofed data check` summarises it, the centralised baseline pools it. It holds preprocessed signals
(usually a read-only memmap from the preprocessed cache) plus per-record metadata, labels for the requested
tasks, raw clinical features (NaN where missing), and the list of records that were skipped with reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

#: Standard 12-lead order used everywhere in cardiofed (signals are always stored in this order).
LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Raw clinical features every layout provides (NaN when missing); layouts may append extras.
BASE_CLINICAL_FEATURES: tuple[str, ...] = ("age", "sex_male")


class DataError(ValueError):
    """A whole dataset cannot be read (no records, unknown layout, missing metadata); names the path."""


@dataclass(frozen=True)
class SkippedRecord:
    """A record that could not be used, and why (the reason is shown to the user verbatim)."""

    record: str
    reason: str
    hospital: str | None = None  # None when the hospital could not be determined either


@dataclass(frozen=True)
class RecordInfo:
    """Metadata of one usable record. `record` is the id relative to the dataset root."""

    record: str
    patient_id: str
    hospital: str
    age: float | None
    sex: str | None  # "M", "F" or None when unknown
    codes: tuple[str, ...]  # diagnosis codes in the layout's vocabulary (SCP-ECG or SNOMED CT)
    source_rate: float  # sampling rate of the file on disk, Hz; 0 for an ECG image
    strat_fold: int | None = None  # PTB-XL's recommended fold, when the layout has one
    flags: tuple[str, ...] = ()  # quality flags on kept records, e.g. "missing age"


@dataclass
class ECGDataset:
    """Preprocessed ECGs with labels and metadata; index i of every array refers to `records[i]`."""

    layout: str
    root: Path
    sample_rate: int
    duration_s: float
    # (n, 12, sample_rate * duration_s) float32 millivolts in LEADS order; for the image layout instead
    # (n, 1, height, width) ink intensities in [0, 1] (see shared.data.images)
    signals: np.ndarray
    records: list[RecordInfo]
    labels: dict[str, np.ndarray]  # task name -> (n, labels_of_task) float32 in {0, 1}
    label_names: dict[str, tuple[str, ...]]  # task name -> label names
    clinical: np.ndarray  # (n, len(clinical_names)) float32, NaN where missing
    clinical_names: tuple[str, ...] = BASE_CLINICAL_FEATURES
    records_found: int = 0  # every record the layout listed, usable or not
    skipped: list[SkippedRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def hospitals(self) -> list[str]:
        """Sorted ids of the hospitals present among the usable records."""
        return sorted({r.hospital for r in self.records})

    @property
    def patient_ids(self) -> np.ndarray:
        return np.array([r.patient_id for r in self.records], dtype=object)

    def subset(self, indices: np.ndarray) -> ECGDataset:
        """Rows `indices` (positions or a boolean mask); skipped records and counts are kept as they are."""
        idx = np.flatnonzero(indices) if np.asarray(indices).dtype == bool else np.asarray(indices, dtype=int)
        return replace(
            self,
            signals=self.signals[idx],
            records=[self.records[i] for i in idx],
            labels={task: y[idx] for task, y in self.labels.items()},
            clinical=self.clinical[idx],
        )

    def for_hospital(self, hospital: str) -> ECGDataset:
        """Only the records of `hospital`; raises KeyError naming the known hospitals when absent."""
        if hospital not in self.hospitals:
            raise KeyError(f"unknown hospital {hospital!r}; this dataset has hospitals {self.hospitals}")
        mask = np.array([r.hospital == hospital for r in self.records], dtype=bool)
        kept = self.subset(mask)
        kept.skipped = [s for s in self.skipped if s.hospital == hospital]
        kept.records_found = len(kept.records) + len(kept.skipped)
        return kept
