"""Calibration from score histograms: Brier score, expected calibration error, reliability curve.

Histograms do not keep scores, so every record is taken to score its bin's centre (`bin_centres()`).
For scores lying at bin centres the results equal the direct computation. Otherwise a score is at most
half a bin from its centre, at most 0.001 in probability (bins are widest around 0.5), which bounds the
error of the Brier score by 0.002 and of each reliability bin's mean prediction by 0.001. A reliability
bin takes the score bins whose centres fall in it, so records within half a score bin of a reliability
bin boundary may be counted in the neighbouring bin.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from shared.metrics.histograms import bin_centres, validate_histograms


class ReliabilityBin(TypedDict):
    """One point of the reliability curve: a range of predicted scores and what was observed in it."""

    low: float
    high: float
    mean_predicted: float
    fraction_positive: float
    count: int


class Calibration(TypedDict):
    """Brier score, expected calibration error and the non-empty reliability bins (None if no records)."""

    brier: float | None
    ece: float | None
    reliability: list[ReliabilityBin]


def calibration(pos: np.ndarray, neg: np.ndarray, n_bins: int = 10) -> Calibration:
    """Brier score, ECE and reliability curve over `n_bins` equal-width bins of predicted probability.

    ECE = sum over reliability bins of (share of records) x |fraction positive - mean predicted|.
    Empty reliability bins are left out of the curve.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    pos, neg = validate_histograms(pos, neg)
    n = int(pos.sum() + neg.sum())
    if n == 0:
        return Calibration(brier=None, ece=None, reliability=[])
    centres = bin_centres()
    brier = (np.dot(pos, (1 - centres) ** 2) + np.dot(neg, centres**2)) / n
    reliability_bin = np.minimum((centres * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(reliability_bin, weights=pos + neg, minlength=n_bins)
    observed = np.bincount(reliability_bin, weights=pos, minlength=n_bins)
    predicted = np.bincount(reliability_bin, weights=(pos + neg) * centres, minlength=n_bins)
    ece = np.sum(np.abs(observed - predicted)) / n
    curve = [
        ReliabilityBin(
            low=j / n_bins,
            high=(j + 1) / n_bins,
            mean_predicted=float(predicted[j] / counts[j]),
            fraction_positive=float(observed[j] / counts[j]),
            count=int(counts[j]),
        )
        for j in np.flatnonzero(counts)
    ]
    return Calibration(brier=float(brier), ece=float(ece), reliability=curve)
