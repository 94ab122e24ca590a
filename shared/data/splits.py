"""Deterministic patient-level train/validation/test splits.

A patient's split depends only on a hash of (seed, patient id), so all ECGs of one patient land in the same
split, the assignment never changes when records are added or removed, and every hospital computes its own
split locally without coordination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def patient_split(
    patient_ids: Iterable[str], seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> np.ndarray:
    """ "train"/"val"/"test" for each entry of `patient_ids` (object array, same order)."""
    if len(fractions) != len(SPLIT_NAMES) or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    bounds = np.cumsum(fractions)[:-1]
    ids = [str(patient) for patient in patient_ids]
    positions = {patient: _unit_interval(patient, seed) for patient in set(ids)}
    split_index = np.searchsorted(bounds, [positions[patient] for patient in ids], side="right")
    return np.array(SPLIT_NAMES, dtype=object)[split_index]


def _unit_interval(patient_id: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, patient id)."""
    digest = hashlib.sha256(f"{seed}\0{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
