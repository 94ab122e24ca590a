"""Thresholds and what they do: the Youden threshold, confusion counts and the rates derived from them.

A threshold predicts a record positive iff its score >= threshold. Histograms only know which bin a
score is in, so a threshold is applied at the nearest bin edge and the edge actually used is reported as
`threshold`; thresholds chosen here (Youden) are bin edges already, so transferring one from the
training hospitals to a held-out hospital applies it exactly. Rates whose denominator is zero (e.g.
PPV when nothing is predicted positive) are None.
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

import numpy as np

from shared.metrics.curves import roc_curve
from shared.metrics.histograms import bin_edges, missing_class_reason, tail_counts, validate_histograms


class OperatingPoint(TypedDict):
    """Confusion counts at a threshold and the rates derived from them (None where undefined)."""

    threshold: float
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None
    f1: float | None  # F1 of the positive class
    f1_weighted: float | None  # F1 of both classes weighted by their support, as sklearn's "weighted"
    tp: int
    fp: int
    tn: int
    fn: int
    n: int
    positives: int


class ThresholdCurve(NamedTuple):
    """Sensitivity and specificity at increasing thresholds (one point per non-empty bin and the top edge)."""

    thresholds: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray


def _ratio(numerator: float, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def snap_threshold(threshold: float) -> int:
    """Index of the bin edge nearest to `threshold` (a probability in [0, 1])."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    edges = bin_edges()
    above = int(np.searchsorted(edges, threshold))
    if above == 0:
        return 0
    return above if edges[above] - threshold < threshold - edges[above - 1] else above - 1


def youden_threshold(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Bin edge maximising sensitivity + specificity - 1; None without both classes.

    Among equally good thresholds the highest is taken (as argmax over scikit-learn's ROC points does),
    which is the lower edge of the lowest bin predicted positive.
    """
    pos, neg = validate_histograms(pos, neg)
    if missing_class_reason(pos, neg):
        return None
    # Youden's J times positives x negatives, in integers so that equal operating points tie exactly.
    scaled_j = tail_counts(pos)[:-1] * neg.sum() - tail_counts(neg)[:-1] * pos.sum()
    best = len(scaled_j) - 1 - int(np.argmax(scaled_j[::-1]))
    return float(bin_edges()[best])


def _f1(tp: int, fp: int, fn: int) -> float | None:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def operating_point(pos: np.ndarray, neg: np.ndarray, threshold: float) -> OperatingPoint:
    """Confusion counts and rates when records scoring >= `threshold` (snapped to a bin edge) are positive."""
    pos, neg = validate_histograms(pos, neg)
    edge = snap_threshold(threshold)
    positives, negatives = int(pos.sum()), int(neg.sum())
    tp, fp = int(tail_counts(pos)[edge]), int(tail_counts(neg)[edge])
    fn, tn = positives - tp, negatives - fp
    f1_positive, f1_negative = _f1(tp, fp, fn), _f1(tn, fn, fp)
    n = positives + negatives
    # A class without records has an undefined F1 but also zero weight, so it drops out of the mean.
    f1_weighted = _ratio(positives * (f1_positive or 0.0) + negatives * (f1_negative or 0.0), n)
    return OperatingPoint(
        threshold=float(bin_edges()[edge]),
        sensitivity=_ratio(tp, positives),
        specificity=_ratio(tn, negatives),
        ppv=_ratio(tp, tp + fp),
        npv=_ratio(tn, tn + fn),
        f1=f1_positive,
        f1_weighted=f1_weighted,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        n=n,
        positives=positives,
    )


def sensitivity_specificity_curve(pos: np.ndarray, neg: np.ndarray) -> ThresholdCurve | None:
    """Sensitivity and specificity by threshold, to pick an operating point; None without both classes."""
    roc = roc_curve(pos, neg)
    if roc is None:
        return None
    return ThresholdCurve(
        thresholds=roc.thresholds[::-1].copy(),
        sensitivity=roc.tpr[::-1].copy(),
        specificity=1.0 - roc.fpr[::-1],
    )


def prevalence_adjusted(
    sensitivity: float | None, specificity: float | None, prevalence: float
) -> dict[str, float | None]:
    """PPV and NPV that a test with this sensitivity and specificity would have at `prevalence`.

    Bayes' rule: PPV = se p / (se p + (1 - sp)(1 - p)), NPV = sp (1 - p) / (sp (1 - p) + (1 - se) p).
    Lets a site compare operating points at a common (e.g. the target population's) prevalence.
    """
    if not 0.0 <= prevalence <= 1.0:
        raise ValueError(f"prevalence must be in [0, 1], got {prevalence!r}")
    if sensitivity is None or specificity is None:
        return {"ppv": None, "npv": None}
    for name, rate in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate!r}")
    true_pos, false_pos = sensitivity * prevalence, (1 - specificity) * (1 - prevalence)
    true_neg, false_neg = specificity * (1 - prevalence), (1 - sensitivity) * prevalence
    return {
        "ppv": true_pos / (true_pos + false_pos) if true_pos + false_pos > 0 else None,
        "npv": true_neg / (true_neg + false_neg) if true_neg + false_neg > 0 else None,
    }
