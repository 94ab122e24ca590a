"""The aggregate numbers a hospital sends: its census and its evaluation histograms.

Everything here reduces per-record values to counts, sums or score histograms before it can leave;
subgroups smaller than the minimum cell size are left out entirely (their absence is the suppression).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from shared import contract
from shared.data import ECGDataset
from shared.metrics import reportable_subgroups, score_histograms, subgroup_masks
from shared.models.clinical import clinical_statistics

Aggregates = dict[str, int | float | list[int] | list[float]]


def census_metrics(data: ECGDataset, splits: np.ndarray, tasks: tuple[str, ...]) -> Aggregates:
    """Records and positives per split, sampling rates, quality counts and clinical aggregates."""
    metrics: Aggregates = {
        "census/records-found": data.records_found,
        "census/skipped": len(data.skipped),
        "census/patients": len(set(data.patient_ids.tolist())),
    }
    for split in ("train", "val", "test", "all"):
        in_split = np.ones(len(data), dtype=bool) if split == "all" else splits == split
        metrics[contract.census_count_key(split)] = int(in_split.sum())
        for task in tasks:
            positives = data.labels[task][in_split].sum(axis=0)
            for label, count in enumerate(positives):
                metrics[contract.census_count_key(split, task, label)] = int(count)
    for rate, count in Counter(r.source_rate for r in data.records).items():
        metrics[f"census/sampling-rate/{rate:g}"] = count
    for flag, count in Counter(f for r in data.records for f in r.flags).items():
        metrics[f"census/flag/{_slug(flag)}"] = count
    # The imputation/scaling transform is fitted on training rows only, from these per-feature sums.
    statistics = clinical_statistics(data.clinical[splits == "train"])
    for stat, values in statistics.items():
        for feature, value in zip(data.clinical_names, values, strict=True):
            metrics[contract.clinical_stat_key(stat, feature)] = float(value)
    return metrics


def evaluation_metrics(
    data: ECGDataset, probabilities: dict[str, np.ndarray], min_cell_size: int
) -> Aggregates:
    """Score histograms for positives and negatives per task and label, overall and per subgroup."""
    metrics: Aggregates = {contract.NUM_EXAMPLES: len(data)}
    masks = subgroup_masks([r.age for r in data.records], [r.sex for r in data.records])
    reportable = reportable_subgroups(masks, data.patient_ids, min_cell_size)
    for subgroup, patients in reportable.items():
        metrics[contract.subgroup_count_key(subgroup)] = patients
    for task, scores in probabilities.items():
        labels = data.labels[task]
        for label in range(labels.shape[1]):
            pos, neg = score_histograms(scores[:, label], labels[:, label])
            metrics[contract.histogram_key(task, label, "pos")] = pos.tolist()
            metrics[contract.histogram_key(task, label, "neg")] = neg.tolist()
            for subgroup in reportable:
                mask = masks[subgroup]
                pos, neg = score_histograms(scores[mask, label], labels[mask, label])
                metrics[contract.histogram_key(task, label, "pos", subgroup)] = pos.tolist()
                metrics[contract.histogram_key(task, label, "neg", subgroup)] = neg.tolist()
    return metrics


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
