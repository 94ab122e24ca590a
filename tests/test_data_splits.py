"""Patient-level splits: deterministic, patient-pure, close to the requested fractions."""

from __future__ import annotations

import numpy as np
import pytest

from shared.data import patient_split


def test_same_seed_same_split_and_another_seed_another():
    patients = [f"p{i}" for i in range(200)]

    first, again, other = patient_split(patients, 0), patient_split(patients, 0), patient_split(patients, 1)

    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_a_patients_records_never_straddle_splits():
    rng = np.random.default_rng(0)
    patients = [f"patient-{i}" for i in rng.integers(0, 300, size=2000)]

    splits = patient_split(patients, seed=7)

    by_patient: dict[str, set[str]] = {}
    for patient, split in zip(patients, splits, strict=True):
        by_patient.setdefault(patient, set()).add(split)
    assert all(len(s) == 1 for s in by_patient.values())


def test_fractions_are_respected_and_stable_under_added_patients():
    patients = [str(i) for i in range(5000)]

    splits = patient_split(patients, seed=3, fractions=(0.6, 0.2, 0.2))
    grown = patient_split([*patients, *map(str, range(5000, 6000))], seed=3, fractions=(0.6, 0.2, 0.2))

    shares = {name: float(np.mean(splits == name)) for name in ("train", "val", "test")}
    assert shares == pytest.approx({"train": 0.6, "val": 0.2, "test": 0.2}, abs=0.03)
    assert grown[:5000].tolist() == splits.tolist()


def test_invalid_fractions_are_rejected():
    with pytest.raises(ValueError, match="summing to 1"):
        patient_split(["a"], seed=0, fractions=(0.5, 0.2, 0.2))
