"""Age bands, subgroup masks, minimum-cell-size suppression and pooled subgroup AUROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from shared.metrics import (
    SUBGROUPS,
    age_band,
    reportable_subgroups,
    score_histograms,
    subgroup_auroc_table,
    subgroup_masks,
)


@pytest.mark.parametrize(
    ("age", "band"),
    [(0, "<50"), (49.9, "<50"), (50, "50-65"), (64.99, "50-65"), (65, "65-80"), (80, ">=80"), (300, ">=80")],
)
def test_age_band_boundaries(age: float, band: str) -> None:
    assert age_band(age) == band


def test_unknown_age_has_no_band_and_negative_age_is_an_error() -> None:
    assert age_band(None) is None and age_band(math.nan) is None
    with pytest.raises(ValueError, match="non-negative"):
        age_band(-1)


def test_subgroup_masks_put_unknowns_in_no_subgroup() -> None:
    masks = subgroup_masks([45.0, 70.0, None, 85.0], ["M", "F", "F", None])
    assert set(masks) == set(SUBGROUPS)
    np.testing.assert_array_equal(masks["age<50"], [True, False, False, False])
    np.testing.assert_array_equal(masks["age65-80"], [False, True, False, False])
    np.testing.assert_array_equal(masks["sex=female"], [False, True, True, False])
    assert sum(mask.sum() for mask in masks.values()) == 6
    with pytest.raises(ValueError, match="unknown sex codes"):
        subgroup_masks([45.0], ["X"])
    with pytest.raises(ValueError, match="2 ages but 1 sexes"):
        subgroup_masks([45.0, 50.0], ["M"])


def test_cell_size_counts_patients_not_records() -> None:
    masks = {"age<50": np.ones(12, dtype=bool), "age>=80": np.arange(12) < 10}
    patients = np.repeat([f"p{i}" for i in range(6)], 2)  # 12 records of 6 patients
    assert reportable_subgroups(masks, patients) == {}
    assert reportable_subgroups(masks, patients, min_cell_size=5) == {"age<50": 6, "age>=80": 5}
    assert reportable_subgroups(masks, np.arange(12).astype(str)) == {"age<50": 12, "age>=80": 10}


def make_hospital(seed: int, n: int, old_patients: int) -> dict[str, np.ndarray]:
    """Records of one hospital with `old_patients` patients aged 80 or more."""
    rng = np.random.default_rng(seed)
    ages = rng.uniform(20, 79, n)
    ages[:old_patients] = rng.uniform(80, 95, old_patients)
    labels = (rng.random(n) < 0.3).astype(int)
    return {
        "ages": ages,
        "sexes": rng.choice(np.array(["M", "F"], dtype=object), n),
        "patients": np.array([f"{seed}-{i}" for i in range(n)]),
        "labels": labels,
        "scores": expit(rng.normal(0, 1.3, n) + 1.2 * labels + 0.01 * (ages - 60)),
    }


def hospital_side(records: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What a hospital sends: histograms of its reportable subgroups only."""
    masks = subgroup_masks(list(records["ages"]), list(records["sexes"]))
    return {
        subgroup: score_histograms(records["scores"][masks[subgroup]], records["labels"][masks[subgroup]])
        for subgroup in reportable_subgroups(masks, records["patients"])
    }


def test_pooled_subgroup_auroc_matches_raw_scores_and_shows_suppression() -> None:
    hospitals = {"A": make_hospital(1, 400, 60), "B": make_hospital(2, 300, 4), "C": make_hospital(3, 80, 0)}
    table = subgroup_auroc_table({name: hospital_side(records) for name, records in hospitals.items()})
    assert list(table) == list(SUBGROUPS)
    old = table["age>=80"]
    assert old["hospitals"] == ["A"] and old["suppressed_at"] == ["B", "C"]
    for subgroup, row in table.items():
        contributing = [hospitals[name] for name in row["hospitals"]]
        masks = [subgroup_masks(list(h["ages"]), list(h["sexes"]))[subgroup] for h in contributing]
        scores = np.concatenate([h["scores"][m] for h, m in zip(contributing, masks, strict=True)])
        labels = np.concatenate([h["labels"][m] for h, m in zip(contributing, masks, strict=True)])
        assert row["n"] == labels.size and row["positives"] == labels.sum()
        assert row["auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=0.002), subgroup
        assert row["auroc"] is not None and row["auroc_ci"] is not None
        low, high = row["auroc_ci"]
        assert low < row["auroc"] < high
        assert row["note"] is None


def test_a_subgroup_suppressed_everywhere_is_shown_as_suppressed() -> None:
    hospitals = {"B": hospital_side(make_hospital(2, 300, 4)), "C": hospital_side(make_hospital(3, 80, 0))}
    row = subgroup_auroc_table(hospitals)["age>=80"]
    assert row["auroc"] is None and row["n"] == 0 and row["hospitals"] == []
    assert row["suppressed_at"] == ["B", "C"] and "suppressed at every hospital" in (row["note"] or "")


def test_a_one_class_subgroup_says_why_it_has_no_auroc() -> None:
    negatives = score_histograms(np.linspace(0.1, 0.9, 20), np.zeros(20))
    row = subgroup_auroc_table({"A": {"sex=male": negatives}})["sex=male"]
    assert row["auroc"] is None and row["auroc_ci"] is None and row["note"] == "no positive records"


def test_unknown_subgroup_names_the_hospital() -> None:
    negatives = score_histograms(np.linspace(0.1, 0.9, 20), np.zeros(20))
    with pytest.raises(ValueError, match="hospital 'A' sent unknown subgroups"):
        subgroup_auroc_table({"A": {"age<40": negatives}})
