"""From the hospitals' score histograms to clinical metrics, for one hospital or a pool of them.

The server never sees a score: it sums histograms (`shared.metrics`) and computes AUROC, AUPRC, the Youden
threshold and operating points from them, including the threshold-transfer analysis of LOHO.

The pooled histograms themselves are kept in results.json too (`stored_histograms`), so the report can
draw curves and compute confidence intervals and calibration later without asking any hospital again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shared import contract
from shared.data import get_task
from shared.metrics import (
    SCORE_BINS,
    SUBGROUPS,
    auroc,
    binary_metrics,
    merge_histograms,
    subgroup_auroc_table,
    youden_threshold,
)

HospitalMetrics = Mapping[str, Any]  # one hospital's evaluate reply (a MetricRecord as a dict)
Histogram = tuple[np.ndarray, np.ndarray]
#: A histogram as results.json stores it: {bin index (a JSON key, so a string): count}, non-empty bins.
SparseCounts = dict[str, int]


def label_histograms(
    metrics: HospitalMetrics, task: str, label: int, subgroup: str | None = None
) -> Histogram | None:
    """The (positives, negatives) histogram of one label, or None when absent (e.g. a suppressed subgroup)."""
    pos_key = contract.histogram_key(task, label, "pos", subgroup)
    neg_key = contract.histogram_key(task, label, "neg", subgroup)
    if pos_key not in metrics or neg_key not in metrics:
        return None
    return np.asarray(metrics[pos_key], dtype=np.int64), np.asarray(metrics[neg_key], dtype=np.int64)


def pooled_histograms(reports: Mapping[str, HospitalMetrics], task: str, label: int) -> Histogram | None:
    """The sum of several hospitals' histograms: the pool's metrics without pooling any data."""
    parts = [h for m in reports.values() if (h := label_histograms(m, task, label)) is not None]
    return merge_histograms(parts) if parts else None


def task_metrics(
    histograms: list[Histogram], task: str, transfer: list[float | None] | None = None
) -> dict[str, Any]:
    """Metrics of one task: the binary dict for one label; per-label dicts plus macro AUROC for several."""
    names = get_task(task).label_names
    transfer = transfer or [None] * len(histograms)
    per_label = [
        binary_metrics(pos, neg, transfer_threshold=t)
        for (pos, neg), t in zip(histograms, transfer, strict=True)
    ]
    if len(per_label) == 1:
        return dict(per_label[0])
    aurocs = [m["auroc"] for m in per_label if m["auroc"] is not None]
    return {
        "labels": dict(zip(names, per_label, strict=True)),
        "macro_auroc": float(np.mean(aurocs)) if aurocs else None,
        "n": per_label[0]["n"],
    }


def summarise(
    reports: Mapping[str, HospitalMetrics],
    tasks: tuple[str, ...],
    transfer_from: Mapping[str, HospitalMetrics] | None = None,
) -> dict[str, Any]:
    """Metrics per task over the pool of `reports`; with `transfer_from`, also at that pool's Youden point."""
    summary = {}
    for task in tasks:
        n_labels = len(get_task(task).label_names)
        histograms = [pooled_histograms(reports, task, label) for label in range(n_labels)]
        if any(h is None for h in histograms):
            continue
        transfer = None
        if transfer_from:
            transfer = [
                youden_threshold(*h)
                if (h := pooled_histograms(transfer_from, task, label)) is not None
                else None
                for label in range(n_labels)
            ]
        summary[task] = task_metrics([h for h in histograms if h is not None], task, transfer)
    return summary


def headline_auroc(reports: Mapping[str, HospitalMetrics], task: str) -> float | None:
    """AUROC of the task's first label over the pool (the number progress shows), None if not estimable."""
    histogram = pooled_histograms(reports, task, 0)
    return None if histogram is None else auroc(*histogram)


def subgroup_table(reports: Mapping[str, HospitalMetrics], tasks: tuple[str, ...]) -> dict[str, Any]:
    """AUROC per subgroup over the pool, per task label; a subgroup a hospital suppressed shows as such."""
    table: dict[str, Any] = {}
    for task in tasks:
        for label, name in enumerate(get_task(task).label_names):
            per_hospital = {
                hospital: {
                    subgroup: histogram
                    for subgroup in SUBGROUPS
                    if (histogram := label_histograms(metrics, task, label, subgroup)) is not None
                }
                for hospital, metrics in reports.items()
            }
            table[f"{task}/{name}"] = subgroup_auroc_table(per_hospital)
    return table


def stored_histograms(reports: Mapping[str, HospitalMetrics], tasks: tuple[str, ...]) -> dict[str, Any]:
    """The pool's histograms for results.json: `{task: {label index: {"pos": counts, "neg": counts}}}`.

    Counts are sparse (`{bin index: count}` over the non-empty bins of the `SCORE_BINS` shared bins): a
    pool of a few hundred records fills a few hundred of the 4096 bins. These are the same aggregates the
    hospitals sent, summed; `histogram_from_stored` turns them back into arrays for `shared.metrics`.
    """
    stored: dict[str, Any] = {}
    for task in tasks:
        per_label = {}
        for label in range(len(get_task(task).label_names)):
            histogram = pooled_histograms(reports, task, label)
            if histogram is not None:
                pos, neg = histogram
                per_label[str(label)] = {"pos": _sparse(pos), "neg": _sparse(neg)}
        if per_label:
            stored[task] = per_label
    return stored


def histogram_from_stored(stored: Mapping[str, Mapping[str, int]]) -> Histogram:
    """The (positives, negatives) arrays of one label stored by `stored_histograms`."""
    return _dense(stored["pos"]), _dense(stored["neg"])


def _sparse(counts: np.ndarray) -> SparseCounts:
    return {str(int(index)): int(counts[index]) for index in np.flatnonzero(counts)}


def _dense(sparse: Mapping[str, int]) -> np.ndarray:
    counts = np.zeros(SCORE_BINS, dtype=np.int64)
    for index, count in sparse.items():
        counts[int(index)] = int(count)
    return counts
