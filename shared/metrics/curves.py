"""ROC and precision-recall curves, AUROC and AUPRC, from score histograms.

Curve points sit at bin edges: the threshold of a point is the lower edge of a non-empty bin, and
records in that bin and above are predicted positive. On scores snapped to their bins' lower edges the
curves are exactly scikit-learn's `roc_curve(drop_intermediate=False)` and `precision_recall_curve`,
except that the ROC curve's first threshold is the top bin edge (just above 1) where scikit-learn uses
infinity, so that curves stay valid JSON. Functions that need both classes return None without them;
`histograms.missing_class_reason` says why.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from shared.metrics.histograms import bin_edges, missing_class_reason, tail_counts, validate_histograms


class RocCurve(NamedTuple):
    """False and true positive rates at decreasing thresholds, starting at (0, 0) and ending at (1, 1)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


class PrCurve(NamedTuple):
    """Precision and recall at increasing thresholds, with scikit-learn's closing point (1, 0) appended."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray


def auroc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Area under the ROC curve: P(positive scores higher) + 1/2 P(same bin); None without both classes.

    Differs from the exact AUROC of the raw scores by at most `auroc_binning_error_bound(pos, neg)`.
    """
    pos, neg = validate_histograms(pos, neg)
    if missing_class_reason(pos, neg):
        return None
    negatives_below = np.cumsum(neg) - neg
    wins = np.dot(pos.astype(np.float64), negatives_below + 0.5 * neg)
    return float(wins / (pos.sum() * neg.sum()))


def auroc_binning_error_bound(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Largest possible gap between histogram AUROC and exact AUROC: half the share of within-bin pairs."""
    pos, neg = validate_histograms(pos, neg)
    if missing_class_reason(pos, neg):
        return None
    return float(0.5 * np.dot(pos.astype(np.float64), neg) / (pos.sum() * neg.sum()))


def _point_thresholds(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Edge indices where the curve moves (lower edges of non-empty bins), in decreasing order."""
    return np.flatnonzero(pos + neg)[::-1]


def roc_curve(pos: np.ndarray, neg: np.ndarray) -> RocCurve | None:
    """ROC curve with one point per non-empty bin plus the (0, 0) start; None without both classes."""
    pos, neg = validate_histograms(pos, neg)
    if missing_class_reason(pos, neg):
        return None
    edge_indices = np.concatenate([[len(pos)], _point_thresholds(pos, neg)])
    tp, fp = tail_counts(pos)[edge_indices], tail_counts(neg)[edge_indices]
    return RocCurve(fpr=fp / neg.sum(), tpr=tp / pos.sum(), thresholds=bin_edges()[edge_indices].copy())


def pr_curve(pos: np.ndarray, neg: np.ndarray) -> PrCurve | None:
    """Precision-recall curve with one point per non-empty bin; None without positive records."""
    pos, neg = validate_histograms(pos, neg)
    if pos.sum() == 0:
        return None
    edge_indices = _point_thresholds(pos, neg)[::-1]
    tp, fp = tail_counts(pos)[edge_indices], tail_counts(neg)[edge_indices]
    return PrCurve(
        precision=np.concatenate([tp / (tp + fp), [1.0]]),
        recall=np.concatenate([tp / pos.sum(), [0.0]]),
        thresholds=bin_edges()[edge_indices].copy(),
    )


def auprc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Average precision, step-wise like scikit-learn's: sum of precision x recall gained, per bin.

    Records in one bin enter together, as tied scores do in scikit-learn. None without positive records;
    1.0 without negative records.
    """
    pos, neg = validate_histograms(pos, neg)
    if pos.sum() == 0:
        return None
    with_positives = np.flatnonzero(pos)
    tp, fp = tail_counts(pos)[with_positives], tail_counts(neg)[with_positives]
    return float(np.sum(pos[with_positives] / pos.sum() * tp / (tp + fp)))
