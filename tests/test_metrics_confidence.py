"""Confidence intervals from histograms: DeLong against a raw-score reference, bootstrap, Clopper-Pearson."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm
from sklearn.metrics import average_precision_score

from shared.metrics import (
    NotEstimable,
    auprc,
    auroc,
    bin_centres,
    bin_indices,
    bootstrap_ci,
    clopper_pearson,
    delong_ci,
    operating_point,
    score_histograms,
)


def reference_delong_ci(
    scores: np.ndarray, labels: np.ndarray, alpha: float = 0.05
) -> tuple[float, float] | None:
    """DeLong's interval straight from the definition: every (positive, negative) pair compared."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if positives.size < 2 or negatives.size < 2:
        return None
    diff = positives[:, None] - negatives[None, :]
    placements = (diff > 0) + 0.5 * (diff == 0)
    area = placements.mean()
    variance = (
        placements.mean(axis=1).var(ddof=1) / positives.size
        + placements.mean(axis=0).var(ddof=1) / negatives.size
    )
    if variance == 0:
        return None
    half_width = norm.ppf(1 - alpha / 2) * np.sqrt(variance)
    return max(0.0, area - half_width), min(1.0, area + half_width)


def fixture(name: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    if name == "random":
        labels = np.repeat([1, 0], [200, 500])
        return expit(rng.normal(0, 1.5, labels.size) + 1.2 * labels), labels
    if name == "imbalanced":
        labels = np.repeat([1, 0], [30, 2970])
        return expit(rng.normal(-4, 1.2, labels.size) + 2.0 * labels), labels
    if name == "skewed":
        labels = np.repeat([1, 0], [150, 250])
        return 0.95 + 0.05 * rng.beta(2.0 + 2.0 * labels, 2.0), labels
    if name == "tiny":
        return np.array([0.3, 0.7, 0.55, 0.2, 0.6, 0.4, 0.35]), np.array([1, 1, 1, 0, 0, 0, 0])
    if name == "near-perfect":
        labels = np.repeat([1, 0], [12, 40])
        scores = expit(rng.normal(0, 1, labels.size) + 4.0 * labels)
        scores[0] = 0.05  # one positive scored lower than most negatives
        return scores, labels
    raise ValueError(name)


@pytest.mark.parametrize("name", ["random", "imbalanced", "skewed", "tiny", "near-perfect"])
def test_delong_from_histograms_matches_raw_score_reference(name: str) -> None:
    scores, labels = fixture(name)
    expected = reference_delong_ci(scores, labels)
    assert expected is not None
    interval = delong_ci(*score_histograms(scores, labels))
    assert not isinstance(interval, NotEstimable)
    np.testing.assert_allclose(interval, expected, atol=0.005)
    # With scores at bin centres the histograms lose nothing, and the two agree to rounding.
    at_centres = bin_centres()[bin_indices(scores)]
    exact = delong_ci(*score_histograms(at_centres, labels))
    reference = reference_delong_ci(at_centres, labels)
    assert not isinstance(exact, NotEstimable) and reference is not None
    np.testing.assert_allclose(exact, reference, atol=1e-12)


def test_delong_counts_same_bin_pairs_as_ties() -> None:
    """Heavy ties: many records share a handful of bins, the case DeLong's ψ = 1/2 exists for."""
    rng = np.random.default_rng(2)
    labels = np.repeat([1, 0], [40, 60])
    bins = np.where(
        labels == 1, rng.choice([2000, 2100, 3000], labels.size), rng.choice([1000, 2000, 2100], labels.size)
    )
    scores = bin_centres()[bins]
    interval = delong_ci(*score_histograms(scores, labels))
    reference = reference_delong_ci(scores, labels)
    assert not isinstance(interval, NotEstimable) and reference is not None
    np.testing.assert_allclose(interval, reference, atol=1e-12)


@pytest.mark.parametrize(
    ("scores", "labels", "reason"),
    [
        (np.array([0.2, 0.4, 0.6]), np.array([0, 0, 0]), "at least 2 positive and 2 negative"),
        (np.array([0.2, 0.4, 0.6]), np.array([1, 0, 0]), "got 1 and 2"),
        (np.array([]), np.array([]), "got 0 and 0"),
        (np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), "variance is zero"),
    ],
)
def test_delong_is_not_estimable_on_one_class_tiny_n_or_separated_data(
    scores: np.ndarray, labels: np.ndarray, reason: str
) -> None:
    interval = delong_ci(*score_histograms(scores, labels))
    assert isinstance(interval, NotEstimable) and not interval
    assert reason in interval.reason
    assert reference_delong_ci(scores, labels) is None


def test_delong_is_not_estimable_when_histograms_cannot_rank_the_scores() -> None:
    """All scores in one bin: every pair is a tie to the histogram, so DeLong's variance is zero."""
    scores, labels = np.array([0.5001, 0.5002, 0.5003, 0.5004]), np.array([0, 1, 0, 1])
    interval = delong_ci(*score_histograms(scores, labels))
    assert isinstance(interval, NotEstimable) and "variance is zero" in interval.reason


def _raw_stratified_bootstrap(scores: np.ndarray, labels: np.ndarray, n_boot: int) -> tuple[float, float]:
    rng = np.random.default_rng(99)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    values = []
    for _ in range(n_boot):
        resampled = np.concatenate(
            [rng.choice(positives, positives.size), rng.choice(negatives, negatives.size)]
        )
        values.append(average_precision_score(np.repeat([1, 0], [positives.size, negatives.size]), resampled))
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def test_bootstrap_auprc_interval_agrees_with_a_raw_score_bootstrap() -> None:
    scores, labels = fixture("random")
    pos, neg = score_histograms(scores, labels)
    interval = bootstrap_ci(pos, neg, auprc, n_boot=400, seed=1)
    assert not isinstance(interval, NotEstimable)
    point = auprc(pos, neg)
    assert point is not None and interval[0] < point < interval[1]
    np.testing.assert_allclose(interval, _raw_stratified_bootstrap(scores, labels, 400), atol=0.02)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    scores, labels = fixture("random")
    pos, neg = score_histograms(scores, labels)
    first = bootstrap_ci(pos, neg, auroc, n_boot=100, seed=4)
    assert first == bootstrap_ci(pos, neg, auroc, n_boot=100, seed=4)
    assert first != bootstrap_ci(pos, neg, auroc, n_boot=100, seed=5)


def test_bootstrap_of_a_proportion_is_close_to_the_exact_interval() -> None:
    scores, labels = fixture("random")
    pos, neg = score_histograms(scores, labels)
    point = operating_point(pos, neg, 0.5)

    def sensitivity(p: np.ndarray, n: np.ndarray) -> float | None:
        return operating_point(p, n, 0.5)["sensitivity"]

    bootstrapped = bootstrap_ci(pos, neg, sensitivity, n_boot=500)
    exact = clopper_pearson(point["tp"], point["positives"])
    assert not isinstance(bootstrapped, NotEstimable) and not isinstance(exact, NotEstimable)
    np.testing.assert_allclose(bootstrapped, exact, atol=0.02)


def test_bootstrap_is_not_estimable_when_the_statistic_is_undefined() -> None:
    only_negatives = score_histograms(np.array([0.2, 0.6]), np.array([0, 0]))
    interval = bootstrap_ci(*only_negatives, auroc, n_boot=10)
    assert isinstance(interval, NotEstimable) and "no positive records" in interval.reason
    # One record above 0.9 among 200: some resamples predict nothing positive, so PPV is undefined there.
    scores = np.concatenate([np.full(199, 0.3), [0.95]])
    pos, neg = score_histograms(scores, np.arange(200) % 2)

    def ppv(p: np.ndarray, n: np.ndarray) -> float | None:
        return operating_point(p, n, 0.9)["ppv"]

    interval = bootstrap_ci(pos, neg, ppv, n_boot=200)
    assert isinstance(interval, NotEstimable) and "some bootstrap samples" in interval.reason


def estimable_clopper_pearson(k: int, n: int) -> tuple[float, float]:
    interval = clopper_pearson(k, n)
    assert not isinstance(interval, NotEstimable)
    return interval


def test_clopper_pearson_exact_limits() -> None:
    low, high = estimable_clopper_pearson(0, 10)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = estimable_clopper_pearson(10, 10)
    assert low == pytest.approx(0.025 ** (1 / 10)) and high == 1.0
    low, high = estimable_clopper_pearson(3, 10)
    mirrored_low, mirrored_high = estimable_clopper_pearson(7, 10)
    assert low == pytest.approx(1 - mirrored_high) and high == pytest.approx(1 - mirrored_low)
    assert low == pytest.approx(0.0667, abs=1e-4) and high == pytest.approx(0.6525, abs=1e-4)
    empty = clopper_pearson(0, 0)
    assert isinstance(empty, NotEstimable) and "no records" in empty.reason
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(5, 3)
    with pytest.raises(ValueError, match="alpha"):
        clopper_pearson(1, 3, alpha=1.5)
