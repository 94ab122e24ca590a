"""95% confidence intervals from score histograms: DeLong for AUROC, bootstrap, Clopper-Pearson.

Each returns `(low, high)` or a `NotEstimable` carrying the reason (too few records of a class, zero
variance, ...), so a report can print the reason instead of an interval; `NotEstimable` is falsy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.metrics.histograms import missing_class_reason, validate_histograms

Interval = tuple[float, float]


@dataclass(frozen=True)
class NotEstimable:
    """An interval that cannot be computed from the data, and why."""

    reason: str

    def __bool__(self) -> bool:
        return False


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def delong_ci(pos: np.ndarray, neg: np.ndarray, alpha: float = 0.05) -> Interval | NotEstimable:
    """DeLong's confidence interval for AUROC, from histograms (clipped to [0, 1]).

    DeLong's variance is built from structural components: for each positive, the share of negatives it
    outranks (a tie counting 1/2), and for each negative, the share of positives outranking it. Records
    in the same bin share their component, and same-bin pairs count as ties, as they do in the AUROC.
    Needs at least 2 records of each class; a variance of zero (e.g. complete separation) gives no
    interval rather than a misleading [1, 1].
    """
    _check_alpha(alpha)
    pos, neg = validate_histograms(pos, neg)
    positives, negatives = int(pos.sum()), int(neg.sum())
    if positives < 2 or negatives < 2:
        return NotEstimable(
            f"DeLong needs at least 2 positive and 2 negative records, got {positives} and {negatives}"
        )
    # Twice the structural components times the other class's count: integers, so equality is exact.
    positive_wins = 2 * (np.cumsum(neg) - neg) + neg  # per bin, for a positive in it
    negative_losses = 2 * (np.cumsum(pos[::-1])[::-1] - pos) + pos  # per bin, for a negative in it
    positive_bins, negative_bins = pos > 0, neg > 0
    if np.ptp(positive_wins[positive_bins]) == 0 and np.ptp(negative_losses[negative_bins]) == 0:
        return NotEstimable("DeLong variance is zero (e.g. the classes are completely separated)")
    v10 = positive_wins / (2 * negatives)
    v01 = negative_losses / (2 * positives)
    area = np.dot(pos, v10) / positives  # the AUROC: the mean structural component of the positives
    s10 = np.dot(pos, (v10 - area) ** 2) / (positives - 1)
    s01 = np.dot(neg, (v01 - area) ** 2) / (negatives - 1)
    # scipy.stats is imported on first use: it costs half a second in every ClientApp process,
    # which imports the metrics for their histogram helpers but never computes an interval.
    from scipy.stats import norm

    half_width = norm.ppf(1 - alpha / 2) * np.sqrt(s10 / positives + s01 / negatives)
    return float(max(0.0, area - half_width)), float(min(1.0, area + half_width))


def bootstrap_ci(
    pos: np.ndarray,
    neg: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], float | None],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Interval | NotEstimable:
    """Percentile bootstrap interval of `statistic(pos, neg)`, resampling histogram bins.

    Each replicate draws as many positives (negatives) as there are from the positive (negative)
    histogram, a multinomial over its bins: the stratified bootstrap of records, which keeps the
    prevalence fixed. If the statistic is undefined (None) in any replicate, the interval is not
    estimable: dropping those replicates would bias it; for proportions use `clopper_pearson`.
    """
    _check_alpha(alpha)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    pos, neg = validate_histograms(pos, neg)
    if statistic(pos, neg) is None:
        reason = missing_class_reason(pos, neg) or "the data it needs are missing"
        return NotEstimable(f"statistic is not defined on this data ({reason})")
    rng = np.random.default_rng(seed)
    positives, negatives = int(pos.sum()), int(neg.sum())
    pos_share = pos / max(positives, 1)
    neg_share = neg / max(negatives, 1)
    replicates = []
    for _ in range(n_boot):
        value = statistic(rng.multinomial(positives, pos_share), rng.multinomial(negatives, neg_share))
        if value is None:
            return NotEstimable("statistic is undefined in some bootstrap samples (too few records)")
        replicates.append(value)
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> Interval | NotEstimable:
    """Exact (Clopper-Pearson) interval for a proportion k / n, e.g. sensitivity = tp / positives."""
    _check_alpha(alpha)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return NotEstimable("no records to estimate a proportion from")
    from scipy.stats import binomtest  # on first use, as in delong_ci()

    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=1 - alpha, method="exact")
    return float(interval.low), float(interval.high)
