"""Evaluation metrics computed from score histograms, so that no per-record score leaves a hospital.

A hospital turns its predictions into `score_histograms` (fixed bins shared by all hospitals); the
coordinator adds them up (`merge_histograms`) and computes everything else from the sums: curves and
areas, operating points, confidence intervals, calibration, subgroup and multi-label summaries.
"""

from shared.metrics.calibration import Calibration, ReliabilityBin, calibration
from shared.metrics.confidence import Interval, NotEstimable, bootstrap_ci, clopper_pearson, delong_ci
from shared.metrics.curves import (
    PrCurve,
    RocCurve,
    auprc,
    auroc,
    auroc_binning_error_bound,
    pr_curve,
    roc_curve,
)
from shared.metrics.histograms import (
    LOGIT_RANGE,
    SCORE_BINS,
    HistogramPair,
    bin_centres,
    bin_edges,
    bin_indices,
    merge_histograms,
    missing_class_reason,
    score_histograms,
    tail_counts,
    validate_histograms,
)
from shared.metrics.operating_points import (
    OperatingPoint,
    ThresholdCurve,
    operating_point,
    prevalence_adjusted,
    sensitivity_specificity_curve,
    snap_threshold,
    youden_threshold,
)
from shared.metrics.subgroups import (
    AGE_BANDS,
    MIN_CELL_SIZE,
    SUBGROUPS,
    SubgroupRow,
    age_band,
    reportable_subgroups,
    subgroup_auroc_table,
    subgroup_masks,
)
from shared.metrics.summary import (
    BinaryMetrics,
    LabelMetrics,
    MultilabelSummary,
    binary_metrics,
    multilabel_summary,
)

__all__ = [
    "AGE_BANDS",
    "LOGIT_RANGE",
    "MIN_CELL_SIZE",
    "SCORE_BINS",
    "SUBGROUPS",
    "BinaryMetrics",
    "Calibration",
    "HistogramPair",
    "Interval",
    "LabelMetrics",
    "MultilabelSummary",
    "NotEstimable",
    "OperatingPoint",
    "PrCurve",
    "ReliabilityBin",
    "RocCurve",
    "SubgroupRow",
    "ThresholdCurve",
    "age_band",
    "auprc",
    "auroc",
    "auroc_binning_error_bound",
    "bin_centres",
    "bin_edges",
    "bin_indices",
    "binary_metrics",
    "bootstrap_ci",
    "calibration",
    "clopper_pearson",
    "delong_ci",
    "merge_histograms",
    "missing_class_reason",
    "multilabel_summary",
    "operating_point",
    "pr_curve",
    "prevalence_adjusted",
    "reportable_subgroups",
    "roc_curve",
    "score_histograms",
    "sensitivity_specificity_curve",
    "snap_threshold",
    "subgroup_auroc_table",
    "subgroup_masks",
    "tail_counts",
    "validate_histograms",
    "youden_threshold",
]
