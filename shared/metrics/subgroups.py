"""Subgroups by age band and sex, and the minimum cell size that protects small groups.

A hospital sends subgroup histograms only for subgroups with at least `MIN_CELL_SIZE` patients
(`reportable_subgroups`); a subgroup it leaves out is suppressed there. The coordinator pools the
hospitals that did report a subgroup and lists those that suppressed it (`subgroup_auroc_table`), so a
suppressed or partly suppressed cell is shown as such rather than silently missing or silently partial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np

from shared.metrics.confidence import NotEstimable, delong_ci
from shared.metrics.curves import auroc
from shared.metrics.histograms import HistogramPair, merge_histograms, missing_class_reason

#: Fewest patients a subgroup may have for a hospital to report it.
MIN_CELL_SIZE: int = 10
#: Age bands in years: [0, 50), [50, 65), [65, 80), [80, ...).
AGE_BANDS: tuple[str, ...] = ("<50", "50-65", "65-80", ">=80")
_AGE_BAND_STARTS: tuple[float, ...] = (50.0, 65.0, 80.0)
#: Sex codes of the dataset (`RecordInfo.sex`) and their subgroup names.
_SEX_NAMES: dict[str, str] = {"M": "male", "F": "female"}
#: Every subgroup, in report order; these are the names used on the wire.
SUBGROUPS: tuple[str, ...] = tuple(f"age{band}" for band in AGE_BANDS) + tuple(
    f"sex={name}" for name in _SEX_NAMES.values()
)


class SubgroupRow(TypedDict):
    """A subgroup's pooled AUROC, who contributed to it and who suppressed it."""

    auroc: float | None
    auroc_ci: tuple[float, float] | None  # DeLong 95%
    n: int  # records pooled from the hospitals that reported the subgroup
    positives: int
    hospitals: list[str]  # hospitals that reported the subgroup
    suppressed_at: list[str]  # hospitals where it had fewer than the minimum cell size
    note: str | None  # why the AUROC or its interval is missing, if it is


def age_band(age: float | None) -> str | None:
    """The age band of an age in years, or None when the age is unknown (None or NaN)."""
    if age is None or math.isnan(age):
        return None
    if age < 0:
        raise ValueError(f"age must be non-negative, got {age!r}")
    return AGE_BANDS[int(np.searchsorted(_AGE_BAND_STARTS, age, side="right"))]


def subgroup_masks(ages: Sequence[float | None], sexes: Sequence[str | None]) -> dict[str, np.ndarray]:
    """Boolean record masks of every subgroup in `SUBGROUPS`; records of unknown age or sex are in none."""
    if len(ages) != len(sexes):
        raise ValueError(f"{len(ages)} ages but {len(sexes)} sexes")
    unknown_codes = {sex for sex in sexes if sex is not None and sex not in _SEX_NAMES}
    if unknown_codes:
        raise ValueError(f"unknown sex codes {sorted(unknown_codes)}; expected 'M', 'F' or None")
    bands = np.array([age_band(age) for age in ages], dtype=object)
    codes = np.array(sexes, dtype=object)
    masks = {f"age{band}": bands == band for band in AGE_BANDS}
    masks.update({f"sex={name}": codes == code for code, name in _SEX_NAMES.items()})
    return masks


def reportable_subgroups(
    masks: Mapping[str, np.ndarray], patient_ids: np.ndarray, min_cell_size: int = MIN_CELL_SIZE
) -> dict[str, int]:
    """Patients per subgroup, for the subgroups with at least `min_cell_size` distinct patients."""
    patient_ids = np.asarray(patient_ids)
    sizes = {name: len(np.unique(patient_ids[mask])) for name, mask in masks.items()}
    return {name: size for name, size in sizes.items() if size >= min_cell_size}


def _row(pooled: HistogramPair | None, hospitals: list[str], suppressed_at: list[str]) -> SubgroupRow:
    if pooled is None:
        return SubgroupRow(
            auroc=None,
            auroc_ci=None,
            n=0,
            positives=0,
            hospitals=[],
            suppressed_at=suppressed_at,
            note="suppressed at every hospital (too few patients)",
        )
    pos, neg = pooled
    interval = delong_ci(pos, neg)
    note = missing_class_reason(pos, neg)
    if note is None and isinstance(interval, NotEstimable):
        note = f"no confidence interval: {interval.reason}"
    return SubgroupRow(
        auroc=auroc(pos, neg),
        auroc_ci=None if isinstance(interval, NotEstimable) else interval,
        n=int(pos.sum() + neg.sum()),
        positives=int(pos.sum()),
        hospitals=hospitals,
        suppressed_at=suppressed_at,
        note=note,
    )


def subgroup_auroc_table(per_hospital: Mapping[str, Mapping[str, HistogramPair]]) -> dict[str, SubgroupRow]:
    """AUROC per subgroup pooled over hospitals: `per_hospital[hospital][subgroup] = (pos, neg)`.

    A subgroup a hospital did not send counts as suppressed there. Pass one hospital for its own table.
    """
    for hospital, subgroups in per_hospital.items():
        unknown = set(subgroups) - set(SUBGROUPS)
        if unknown:
            raise ValueError(f"hospital {hospital!r} sent unknown subgroups {sorted(unknown)}")
    table = {}
    for subgroup in SUBGROUPS:
        reported = {h: groups[subgroup] for h, groups in per_hospital.items() if subgroup in groups}
        suppressed_at = [h for h, groups in per_hospital.items() if subgroup not in groups]
        pooled = merge_histograms(reported) if reported else None
        table[subgroup] = _row(pooled, list(reported), suppressed_at)
    return table
