"""ROC and PR curves, AUPRC, the Youden threshold and operating points, against scikit-learn on raw scores.

Histograms resolve scores only to their bin, so the references run on scores snapped to their bin's lower
edge (where a threshold at a bin edge splits them exactly as it splits the raw scores).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics as skm

from shared.metrics import (
    auprc,
    bin_edges,
    bin_indices,
    operating_point,
    pr_curve,
    prevalence_adjusted,
    roc_curve,
    score_histograms,
    sensitivity_specificity_curve,
    snap_threshold,
    youden_threshold,
)


def scores_and_labels(seed: int, n: int = 1500, prevalence: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(int)
    return expit(rng.normal(-1.0, 1.5, n) + 1.5 * labels), labels


def snapped_to_lower_edges(scores: np.ndarray) -> np.ndarray:
    return bin_edges()[bin_indices(scores)]


@pytest.mark.parametrize("seed", [0, 1])
def test_roc_curve_matches_sklearn_on_snapped_scores(seed: int) -> None:
    scores, labels = scores_and_labels(seed)
    curve = roc_curve(*score_histograms(scores, labels))
    assert curve is not None
    fpr, tpr, thresholds = skm.roc_curve(labels, snapped_to_lower_edges(scores), drop_intermediate=False)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    np.testing.assert_array_equal(curve.thresholds[1:], thresholds[1:])
    assert curve.thresholds[0] == bin_edges()[-1]  # finite stand-in for sklearn's inf


@pytest.mark.parametrize("seed", [0, 1])
def test_pr_curve_and_auprc_match_sklearn_on_snapped_scores(seed: int) -> None:
    scores, labels = scores_and_labels(seed, prevalence=0.05)
    pos, neg = score_histograms(scores, labels)
    snapped = snapped_to_lower_edges(scores)
    curve = pr_curve(pos, neg)
    assert curve is not None
    precision, recall, thresholds = skm.precision_recall_curve(labels, snapped)
    np.testing.assert_allclose(curve.precision, precision)
    np.testing.assert_allclose(curve.recall, recall)
    np.testing.assert_array_equal(curve.thresholds, thresholds)
    assert auprc(pos, neg) == pytest.approx(skm.average_precision_score(labels, snapped), abs=1e-12)
    assert auprc(pos, neg) == pytest.approx(skm.average_precision_score(labels, scores), abs=0.005)


def test_curves_without_a_class() -> None:
    negatives_only = score_histograms(np.array([0.2, 0.6]), np.array([0, 0]))
    positives_only = score_histograms(np.array([0.2, 0.6]), np.array([1, 1]))
    assert roc_curve(*negatives_only) is None and pr_curve(*negatives_only) is None
    assert auprc(*negatives_only) is None
    assert auprc(*positives_only) == 1.0
    assert sensitivity_specificity_curve(*positives_only) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_youden_threshold_matches_argmax_over_sklearn_roc_points(seed: int) -> None:
    scores, labels = scores_and_labels(seed)
    fpr, tpr, thresholds = skm.roc_curve(labels, snapped_to_lower_edges(scores), drop_intermediate=False)
    assert youden_threshold(*score_histograms(scores, labels)) == thresholds[np.argmax(tpr - fpr)]


def test_youden_threshold_separates_perfectly_separated_classes_at_the_lowest_positive() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])
    labels = np.array([0, 0, 0, 1, 1])
    threshold = youden_threshold(*score_histograms(scores, labels))
    assert threshold == bin_edges()[bin_indices(np.array([0.7]))[0]]
    assert youden_threshold(*score_histograms(scores, np.zeros(5))) is None


def _direct_operating_point(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "ppv": tp / (tp + fp),
        "npv": tn / (tn + fn),
        "f1": skm.f1_score(labels, predicted),
        "f1_weighted": skm.f1_score(labels, predicted, average="weighted"),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_operating_point_at_a_bin_edge_matches_raw_scores(seed: int) -> None:
    """At a bin edge, score >= threshold splits raw scores exactly as it splits their bins."""
    scores, labels = scores_and_labels(seed)
    pos, neg = score_histograms(scores, labels)
    for threshold in (youden_threshold(pos, neg), 0.5, float(bin_edges()[1500])):
        assert threshold is not None
        point = operating_point(pos, neg, threshold)
        assert point["threshold"] == threshold
        expected = _direct_operating_point(scores, labels, threshold)
        for key, value in expected.items():
            assert dict(point)[key] == pytest.approx(value, abs=1e-12), key
        assert point["n"] == scores.size and point["positives"] == labels.sum()


def test_operating_point_snaps_the_threshold_to_the_nearest_edge_and_reports_it() -> None:
    edges = bin_edges()
    k = bin_indices(np.array([0.3]))[0]
    assert snap_threshold(edges[k] + 0.4 * (edges[k + 1] - edges[k])) == k
    assert snap_threshold(edges[k] + 0.6 * (edges[k + 1] - edges[k])) == k + 1
    assert snap_threshold(0.0) == 0 and snap_threshold(1.0) == len(edges) - 1
    pos, neg = score_histograms(np.array([0.2, 0.4]), np.array([1, 0]))
    assert operating_point(pos, neg, 0.3)["threshold"] == pytest.approx(0.3, abs=1e-3)
    with pytest.raises(ValueError, match="probability"):
        operating_point(pos, neg, 1.5)


def test_operating_point_with_one_class_is_defined_where_it_can_be() -> None:
    scores, labels = np.array([0.1, 0.4, 0.6, 0.9]), np.zeros(4, dtype=int)
    point = operating_point(*score_histograms(scores, labels), threshold=0.5)
    assert point["sensitivity"] is None and point["ppv"] == 0.0
    assert point["specificity"] == 0.5 and point["npv"] == 1.0
    assert point["f1_weighted"] == pytest.approx(
        skm.f1_score(labels, (scores >= 0.5).astype(int), average="weighted", zero_division=0)
    )
    nothing_predicted = operating_point(*score_histograms(scores, labels), threshold=1.0)
    assert nothing_predicted["ppv"] is None and nothing_predicted["f1"] is None
    assert nothing_predicted["f1_weighted"] == 1.0
    empty = operating_point(*score_histograms(np.array([]), np.array([])), threshold=0.5)
    assert empty["n"] == 0 and empty["f1_weighted"] is None and empty["sensitivity"] is None


def test_sensitivity_specificity_curve_agrees_with_operating_points() -> None:
    scores, labels = scores_and_labels(4, n=400)
    pos, neg = score_histograms(scores, labels)
    curve = sensitivity_specificity_curve(pos, neg)
    assert curve is not None
    assert np.all(np.diff(curve.thresholds) > 0)
    assert np.all(np.diff(curve.sensitivity) <= 0) and np.all(np.diff(curve.specificity) >= 0)
    for i in (0, len(curve.thresholds) // 2, len(curve.thresholds) - 1):
        point = operating_point(pos, neg, float(min(curve.thresholds[i], 1.0)))
        assert (point["sensitivity"], point["specificity"]) == (curve.sensitivity[i], curve.specificity[i])


def test_prevalence_adjusted_ppv_npv_match_a_population_reweighted_to_that_prevalence() -> None:
    """Weighting negatives to outnumber positives 9 to 1 gives 10% prevalence; PPV/NPV counted so agree."""
    scores, labels = scores_and_labels(6, n=400, prevalence=0.5)
    pos, neg = score_histograms(scores, labels)
    threshold = youden_threshold(pos, neg)
    assert threshold is not None
    point = operating_point(pos, neg, threshold)
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    repeats = 9 * positives / negatives  # makes the negatives 9 times as many as the positives
    adjusted = prevalence_adjusted(point["sensitivity"], point["specificity"], prevalence=0.1)
    predicted = scores >= threshold
    tp = np.sum(predicted & (labels == 1))
    fp = np.sum(predicted & (labels == 0)) * repeats
    tn = np.sum(~predicted & (labels == 0)) * repeats
    fn = np.sum(~predicted & (labels == 1))
    assert adjusted["ppv"] == pytest.approx(tp / (tp + fp))
    assert adjusted["npv"] == pytest.approx(tn / (tn + fn))


def test_prevalence_adjusted_edge_cases() -> None:
    assert prevalence_adjusted(None, 0.9, 0.1) == {"ppv": None, "npv": None}
    assert prevalence_adjusted(0.0, 1.0, 0.1) == {"ppv": None, "npv": 0.9}
    with pytest.raises(ValueError, match="prevalence"):
        prevalence_adjusted(0.8, 0.9, 1.2)
    with pytest.raises(ValueError, match="sensitivity"):
        prevalence_adjusted(1.8, 0.9, 0.2)
