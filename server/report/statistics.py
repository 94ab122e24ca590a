"""The report's numbers for one endpoint and one pool of records, from stored score histograms.

A *pool* is what was evaluated together: a LOHO held-out hospital, a hospital's test split, or several of
them merged (each record counted once). Every statistic comes from `shared.metrics`:
AUROC with DeLong's 95% CI, AUPRC with a stratified bootstrap 95% CI over histogram bins, and the
proportions at an operating point (sensitivity, specificity, PPV, NPV) with exact Clopper-Pearson 95% CIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.evaluation import Histogram, histogram_from_stored
from shared.metrics import (
    NotEstimable,
    auprc,
    auroc,
    bootstrap_ci,
    clopper_pearson,
    delong_ci,
    merge_histograms,
    operating_point,
    youden_threshold,
)

#: Bootstrap replicates for AUPRC intervals (the seed is the run's, so a report is reproducible).
BOOTSTRAP_REPLICATES = 1000

METHODS_NOTE = (
    "95% confidence intervals: AUROC by DeLong's method; AUPRC by a stratified percentile bootstrap "
    f"({BOOTSTRAP_REPLICATES} replicates) over the pooled score histograms; sensitivity, specificity, PPV "
    "and NPV by the exact Clopper-Pearson method. Every figure is computed from aggregate score histograms "
    "(4096 bins uniform in logit) that the hospitals sent; no record-level score was ever available."
)


@dataclass(frozen=True)
class Endpoint:
    """One label of one task, e.g. task `mi`, label 0 `MI`."""

    task: str
    label: int
    name: str

    @property
    def title(self) -> str:
        return self.task if self.task == self.name.lower() else f"{self.task} / {self.name}"


@dataclass(frozen=True)
class Pool:
    """Records evaluated together: their stored histograms and, when known, the transferred threshold."""

    name: str
    histograms: Mapping[str, Any]  # `stored_histograms` output: {task: {label: {"pos": ..., "neg": ...}}}
    metrics: Mapping[str, Any] | None = None  # `summarise` output, for the transferred threshold

    def histogram(self, endpoint: Endpoint) -> Histogram | None:
        stored = self.histograms.get(endpoint.task, {}).get(str(endpoint.label))
        return None if stored is None else histogram_from_stored(stored)

    def transferred_threshold(self, endpoint: Endpoint) -> float | None:
        if not self.metrics or endpoint.task not in self.metrics:
            return None
        task_metrics = self.metrics[endpoint.task]
        label_metrics = task_metrics["labels"][endpoint.name] if "labels" in task_metrics else task_metrics
        transfer = label_metrics.get("transfer")
        return None if transfer is None else float(transfer["threshold"])


def merged_pool(name: str, pools: list[Pool], endpoints: list[Endpoint]) -> Pool:
    """One pool holding the records of all `pools` (e.g. every LOHO held-out hospital)."""
    merged: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    for endpoint in endpoints:
        parts = [h for pool in pools if (h := pool.histogram(endpoint)) is not None]
        if parts:
            pos, neg = merge_histograms(parts)
            merged.setdefault(endpoint.task, {})[str(endpoint.label)] = {
                "pos": {str(i): int(pos[i]) for i in np.flatnonzero(pos)},
                "neg": {str(i): int(neg[i]) for i in np.flatnonzero(neg)},
            }
    return Pool(name, merged)


@dataclass(frozen=True)
class Proportion:
    """A rate k / n with its exact interval (or the reason there is none)."""

    value: float | None
    interval: tuple[float, float] | NotEstimable


@dataclass(frozen=True)
class OperatingRow:
    """An operating point with CIs: the pool's own Youden point or a transferred threshold."""

    threshold: float
    sensitivity: Proportion
    specificity: Proportion
    ppv: Proportion
    npv: Proportion
    f1_weighted: float | None


@dataclass(frozen=True)
class Discrimination:
    """AUROC and AUPRC with their intervals, and the pool's size."""

    n: int
    positives: int
    auroc: float | None
    auroc_ci: tuple[float, float] | NotEstimable
    auprc: float | None
    auprc_ci: tuple[float, float] | NotEstimable


def discrimination(histogram: Histogram, seed: int) -> Discrimination:
    """AUROC [DeLong] and AUPRC [bootstrap] of one pool."""
    pos, neg = histogram
    return Discrimination(
        n=int(pos.sum() + neg.sum()),
        positives=int(pos.sum()),
        auroc=auroc(pos, neg),
        auroc_ci=delong_ci(pos, neg),
        auprc=auprc(pos, neg),
        auprc_ci=bootstrap_ci(pos, neg, auprc, n_boot=BOOTSTRAP_REPLICATES, seed=seed),
    )


def _proportion(k: int, n: int) -> Proportion:
    return Proportion(k / n if n else None, clopper_pearson(k, n))


def operating_row(histogram: Histogram, threshold: float) -> OperatingRow:
    """The operating point at `threshold` with Clopper-Pearson intervals on each proportion."""
    pos, neg = histogram
    point = operating_point(pos, neg, threshold)
    tp, fp, tn, fn = point["tp"], point["fp"], point["tn"], point["fn"]
    return OperatingRow(
        threshold=point["threshold"],
        sensitivity=_proportion(tp, tp + fn),
        specificity=_proportion(tn, tn + fp),
        ppv=_proportion(tp, tp + fp),
        npv=_proportion(tn, tn + fn),
        f1_weighted=point["f1_weighted"],
    )


def oracle_row(histogram: Histogram) -> OperatingRow | None:
    """The pool's own Youden operating point, None without both classes."""
    threshold = youden_threshold(*histogram)
    return None if threshold is None else operating_row(histogram, threshold)
