"""Brier score, ECE and the reliability curve from histograms, against direct computation on scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import brier_score_loss

from shared.metrics import bin_centres, bin_indices, calibration, score_histograms


def overconfident_model(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(-1.0, 1.5, n)
    labels = (rng.random(n) < expit(true_logits)).astype(int)
    return expit(2.0 * true_logits), labels  # doubled logits: too sure in both directions


def direct_calibration(scores: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[float, list[tuple]]:
    """ECE and reliability points computed record by record."""
    bins = np.minimum((scores * n_bins).astype(int), n_bins - 1)
    ece, points = 0.0, []
    for j in range(n_bins):
        in_bin = bins == j
        if in_bin.any():
            ece += in_bin.mean() * abs(labels[in_bin].mean() - scores[in_bin].mean())
            points.append((scores[in_bin].mean(), labels[in_bin].mean(), int(in_bin.sum())))
    return ece, points


@pytest.mark.parametrize("n_bins", [10, 15])
def test_calibration_equals_direct_computation_for_scores_at_bin_centres(n_bins: int) -> None:
    scores, labels = overconfident_model(0)
    at_centres = bin_centres()[bin_indices(scores)]
    result = calibration(*score_histograms(at_centres, labels), n_bins=n_bins)
    expected_ece, expected_points = direct_calibration(at_centres, labels, n_bins)
    assert result["brier"] == pytest.approx(brier_score_loss(labels, at_centres), abs=1e-12)
    assert result["ece"] == pytest.approx(expected_ece, abs=1e-12)
    assert len(result["reliability"]) == len(expected_points)
    for point, (mean_predicted, fraction_positive, count) in zip(
        result["reliability"], expected_points, strict=True
    ):
        assert point["mean_predicted"] == pytest.approx(mean_predicted, abs=1e-12)
        assert point["fraction_positive"] == pytest.approx(fraction_positive, abs=1e-12)
        assert point["count"] == count
        assert point["low"] <= mean_predicted < point["high"]


def test_calibration_of_raw_scores_is_within_the_documented_bound() -> None:
    scores, labels = overconfident_model(1)
    result = calibration(*score_histograms(scores, labels))
    expected_ece, _ = direct_calibration(scores, labels, 10)
    assert result["brier"] == pytest.approx(brier_score_loss(labels, scores), abs=0.002)
    assert result["ece"] == pytest.approx(expected_ece, abs=0.005)
    assert result["ece"] is not None and result["ece"] > 0.05  # the overconfidence is visible


def test_calibration_without_records_and_with_bad_bins() -> None:
    empty = calibration(*score_histograms(np.array([]), np.array([])))
    assert empty == {"brier": None, "ece": None, "reliability": []}
    negatives_only = calibration(*score_histograms(np.array([0.0, 0.0]), np.array([0, 0])))
    assert negatives_only["brier"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="n_bins"):
        calibration(*score_histograms(np.array([0.5]), np.array([1])), n_bins=0)
