"""The metric summaries a run records: one binary label, and a multi-label task.

`binary_metrics` is what results.json holds per held-out hospital and task: discrimination (AUROC,
AUPRC), the hospital's own Youden operating point, and optionally the operating point at a threshold
transferred from elsewhere (the training hospitals' pooled validation Youden threshold). Values that need
a class the data lack are None, and `not_estimable` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import numpy as np

from shared.metrics.curves import auprc, auroc
from shared.metrics.histograms import HistogramPair, missing_class_reason, validate_histograms
from shared.metrics.operating_points import OperatingPoint, operating_point, youden_threshold


class BinaryMetrics(TypedDict):
    """Discrimination and the Youden operating point of one label, plus an optional transferred point."""

    auroc: float | None
    auprc: float | None
    youden_threshold: float | None
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None
    f1: float | None
    f1_weighted: float | None
    n: int
    positives: int
    not_estimable: str | None  # why the None values above are None
    transfer: OperatingPoint | None  # at the transferred threshold, when one was given


class LabelMetrics(TypedDict):
    """One label of a multi-label task."""

    auroc: float | None
    auprc: float | None
    f1: float | None
    n: int
    positives: int
    not_estimable: str | None


class MultilabelSummary(TypedDict):
    """Per-label metrics and their macro means (each over the labels where that metric is defined)."""

    per_label: dict[str, LabelMetrics]
    macro: dict[str, float | None]


def binary_metrics(
    pos: np.ndarray, neg: np.ndarray, transfer_threshold: float | None = None
) -> BinaryMetrics:
    """AUROC, AUPRC, the Youden threshold and the operating point there, and the transferred point."""
    pos, neg = validate_histograms(pos, neg)
    threshold = youden_threshold(pos, neg)
    youden = None if threshold is None else operating_point(pos, neg, threshold)
    return BinaryMetrics(
        auroc=auroc(pos, neg),
        auprc=auprc(pos, neg),
        youden_threshold=threshold,
        sensitivity=None if youden is None else youden["sensitivity"],
        specificity=None if youden is None else youden["specificity"],
        ppv=None if youden is None else youden["ppv"],
        npv=None if youden is None else youden["npv"],
        f1=None if youden is None else youden["f1"],
        f1_weighted=None if youden is None else youden["f1_weighted"],
        n=int(pos.sum() + neg.sum()),
        positives=int(pos.sum()),
        not_estimable=missing_class_reason(pos, neg),
        transfer=None if transfer_threshold is None else operating_point(pos, neg, transfer_threshold),
    )


def _mean_of_defined(values: list[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return float(np.mean(defined)) if defined else None


def multilabel_summary(
    per_label: Mapping[str, HistogramPair], threshold: float | Mapping[str, float] = 0.5
) -> MultilabelSummary:
    """Per-label AUROC, AUPRC and F1 (of the positive class at `threshold`) and their macro means.

    `threshold` is one threshold for all labels or one per label (e.g. each label's validation Youden
    threshold). Each macro mean is over the labels where that metric is defined: AUROC needs both classes,
    AUPRC positives, F1 positives or predicted positives (scikit-learn fails on the first and counts
    the last as 0).
    """
    if not per_label:
        raise ValueError("no labels to summarise")
    if isinstance(threshold, Mapping) and set(threshold) != set(per_label):
        raise ValueError(f"thresholds given for {sorted(threshold)} but labels are {sorted(per_label)}")
    rows: dict[str, LabelMetrics] = {}
    for label, (pos, neg) in per_label.items():
        pos, neg = validate_histograms(pos, neg, f"label {label!r}")
        label_threshold = threshold[label] if isinstance(threshold, Mapping) else threshold
        rows[label] = LabelMetrics(
            auroc=auroc(pos, neg),
            auprc=auprc(pos, neg),
            f1=operating_point(pos, neg, label_threshold)["f1"],
            n=int(pos.sum() + neg.sum()),
            positives=int(pos.sum()),
            not_estimable=missing_class_reason(pos, neg),
        )
    macro = {
        "auroc": _mean_of_defined([row["auroc"] for row in rows.values()]),
        "auprc": _mean_of_defined([row["auprc"] for row in rows.values()]),
        "f1": _mean_of_defined([row["f1"] for row in rows.values()]),
    }
    return MultilabelSummary(per_label=rows, macro=macro)
