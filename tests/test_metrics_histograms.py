"""Score binning, histograms, merging, and the accuracy of AUROC computed from histograms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from shared.metrics import (
    SCORE_BINS,
    auroc,
    auroc_binning_error_bound,
    bin_centres,
    bin_edges,
    bin_indices,
    merge_histograms,
    score_histograms,
    validate_histograms,
)


def random_scores(rng: np.random.Generator, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """A moderately good model: logits separated by 1 between classes, 30% positives."""
    labels = rng.random(n) < 0.3
    return expit(rng.normal(0.0, 1.5, n) + 1.0 * labels), labels


def skewed_scores(rng: np.random.Generator, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Every score crowded into [0.95, 1.0], positives slightly higher."""
    labels = rng.random(n) < 0.4
    return 0.95 + 0.05 * rng.beta(2.0 + 1.5 * labels, 2.0), labels


def imbalanced_scores(rng: np.random.Generator, n: int = 20000) -> tuple[np.ndarray, np.ndarray]:
    """1% positives, confident negatives (scores near 0)."""
    labels = rng.random(n) < 0.01
    return expit(rng.normal(-4.0, 1.2, n) + 1.8 * labels), labels


DISTRIBUTIONS = {"random": random_scores, "skewed": skewed_scores, "imbalanced": imbalanced_scores}


def test_bins_are_uniform_in_logit_space_with_open_outer_bins() -> None:
    edges = bin_edges()
    assert edges.shape == (SCORE_BINS + 1,)
    assert np.all(np.diff(edges) > 0)
    assert edges[0] == 0.0 and 1.0 < edges[-1] < 1.0 + 1e-12
    np.testing.assert_allclose(np.diff(logit(edges[1:-1])), 32 / SCORE_BINS, rtol=1e-6)
    centres = bin_centres()
    assert np.all((edges[:-1] < centres) & (centres < edges[1:]))


def test_scores_fall_in_half_open_bins() -> None:
    edges, centres = bin_edges(), bin_centres()
    bins = np.array([0, 1, 2047, 2048, SCORE_BINS - 1])
    np.testing.assert_array_equal(bin_indices(edges[bins]), bins)  # an edge opens its bin
    np.testing.assert_array_equal(bin_indices(centres[bins]), bins)
    np.testing.assert_array_equal(bin_indices(np.array([0.0, 0.5, 1.0])), [0, 2048, SCORE_BINS - 1])


def test_score_histograms_count_each_class() -> None:
    scores = np.array([0.1, 0.1, 0.5, 0.9, 1.0])
    labels = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    pos, neg = score_histograms(scores, labels)
    assert pos.dtype == np.int64 and neg.dtype == np.int64
    assert pos.sum() == 3 and neg.sum() == 2
    assert pos[bin_indices(np.array([0.1]))[0]] == 1 and neg[bin_indices(np.array([0.1]))[0]] == 1
    assert pos[-1] == 1
    empty_pos, empty_neg = score_histograms(np.array([]), np.array([]))
    assert empty_pos.sum() == 0 and empty_neg.sum() == 0


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (np.array([0.2, np.nan]), np.array([0, 1]), "NaN"),
        (np.array([0.2, 2.5]), np.array([0, 1]), "logits"),
        (np.array([0.2, 0.3]), np.array([0, 2]), "0 or 1"),
        (np.array([0.2, 0.3]), np.array([0, np.nan]), "0 or 1"),
        (np.array([0.2, 0.3]), np.array([0]), "2 scores but 1 labels"),
        (np.array([[0.2, 0.3]]), np.array([0, 1]), "1-D"),
    ],
)
def test_score_histograms_reject_bad_input(scores: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_histograms(scores, labels)


def test_merged_hospital_histograms_equal_the_histogram_of_pooled_scores() -> None:
    rng = np.random.default_rng(3)
    scores, labels = random_scores(rng, 900)
    hospital_of_record = rng.integers(0, 3, scores.size)
    per_hospital = {
        f"site-{h}": score_histograms(scores[hospital_of_record == h], labels[hospital_of_record == h])
        for h in range(3)
    }
    pooled_pos, pooled_neg = score_histograms(scores, labels)
    for merged in (merge_histograms(per_hospital), merge_histograms(list(per_hospital.values()))):
        np.testing.assert_array_equal(merged[0], pooled_pos)
        np.testing.assert_array_equal(merged[1], pooled_neg)


def test_merge_names_the_hospital_with_a_malformed_histogram() -> None:
    good = score_histograms(np.array([0.3, 0.7]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"hospital 'B': positive-score histogram has shape \(10,\)"):
        merge_histograms({"A": good, "B": (np.zeros(10), good[1])})
    with pytest.raises(ValueError, match="hospital 'C': negative-score histogram must hold non-negative"):
        merge_histograms({"A": good, "C": (good[0], -good[1])})
    with pytest.raises(ValueError, match="no histograms"):
        merge_histograms([])


def test_validate_histograms_accepts_whole_float_counts_from_the_wire() -> None:
    pos, neg = validate_histograms([1.0] * SCORE_BINS, [0] * SCORE_BINS)
    assert pos.dtype == np.int64 and pos.sum() == SCORE_BINS and neg.sum() == 0
    with pytest.raises(ValueError, match="whole counts"):
        validate_histograms([0.5] * SCORE_BINS, [0] * SCORE_BINS)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_histogram_auroc_matches_exact_auroc(distribution: str, seed: int) -> None:
    scores, labels = DISTRIBUTIONS[distribution](np.random.default_rng(seed))
    pos, neg = score_histograms(scores, labels)
    area, bound = auroc(pos, neg), auroc_binning_error_bound(pos, neg)
    assert area is not None and bound is not None
    error = abs(area - roc_auc_score(labels, scores))
    assert error < 0.002
    assert error <= bound + 1e-12


def test_histogram_auroc_is_exact_when_ties_are_bins() -> None:
    """Scores snapped to bin centres tie exactly when they share a bin, as the histogram assumes."""
    scores, labels = skewed_scores(np.random.default_rng(5), 2000)
    at_centres = bin_centres()[bin_indices(scores)]
    assert auroc(*score_histograms(at_centres, labels)) == pytest.approx(
        roc_auc_score(labels, at_centres), abs=1e-12
    )


def test_binning_error_bound_is_reached_when_scores_share_one_bin() -> None:
    """Perfectly ranked scores inside one bin: exact AUROC 1, histogram 0.5, error = bound = 0.5."""
    scores = np.array([0.5001, 0.5002, 0.5003, 0.5004])
    labels = np.array([0, 0, 1, 1])
    pos, neg = score_histograms(scores, labels)
    assert auroc(pos, neg) == 0.5
    assert auroc_binning_error_bound(pos, neg) == 0.5


def test_auroc_needs_both_classes() -> None:
    only_negatives = score_histograms(np.array([0.2, 0.4]), np.array([0, 0]))
    assert auroc(*only_negatives) is None
    assert auroc_binning_error_bound(*only_negatives) is None
