"""The report's plots, drawn with matplotlib's Agg backend into PNG bytes (no display, no files).

Every function takes curves or numbers the coordinator already holds (computed from pooled histograms by
`shared.metrics`) and returns the PNG; nothing here sees a record.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: a coordinator may run headless

import matplotlib.pyplot as plt
from matplotlib.figure import Figure as PlotFigure
from matplotlib.ticker import MaxNLocator

from shared.metrics import Calibration, PrCurve, RocCurve, ThresholdCurve

_DPI = 100


def _png(figure: PlotFigure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=_DPI)
    plt.close(figure)
    return buffer.getvalue()


def roc_and_pr(
    roc: Mapping[str, RocCurve | None], pr: Mapping[str, PrCurve | None], prevalence: Mapping[str, float]
) -> bytes:
    """ROC (left) and precision-recall (right) curves, one line per named curve (e.g. held-out hospital).

    A missing curve (one class absent) is left out of the plot; the tables say why.
    """
    figure, (roc_axes, pr_axes) = plt.subplots(1, 2, figsize=(10, 4.2))
    roc_axes.plot([0, 1], [0, 1], color="0.7", linestyle=":", label="chance")
    for name, curve in roc.items():
        if curve is not None:
            roc_axes.step(curve.fpr, curve.tpr, where="post", label=name)
    roc_axes.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    for name, pr_points in pr.items():
        if pr_points is not None:
            (line,) = pr_axes.step(pr_points.recall, pr_points.precision, where="pre", label=name)
            pr_axes.axhline(prevalence[name], color=line.get_color(), linestyle=":", linewidth=0.8)
    pr_axes.set(
        xlabel="recall (sensitivity)",
        ylabel="precision (PPV)",
        title="Precision-recall",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    for axes in (roc_axes, pr_axes):
        axes.legend(fontsize=8, loc="lower right" if axes is roc_axes else "upper right")
        axes.grid(alpha=0.3)
    return _png(figure)


def auroc_by_round(series: Mapping[str, Sequence[tuple[int, float | None]]], ylabel: str) -> bytes:
    """One line per series (e.g. LOHO fold) of AUROC against round; rounds without an AUROC are gaps."""
    figure, axes = plt.subplots(figsize=(7, 3.8))
    for name, points in series.items():
        rounds = [r for r, _ in points]
        values = [float("nan") if v is None else v for _, v in points]
        axes.plot(rounds, values, marker="o", label=name)
    axes.axhline(0.5, color="0.7", linestyle=":")
    axes.set(xlabel="round", ylabel=ylabel, ylim=(0, 1.02))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def reliability(curves: Mapping[str, Calibration]) -> bytes:
    """Reliability diagram: observed fraction positive against mean predicted score, per named pool."""
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.plot([0, 1], [0, 1], color="0.7", linestyle=":", label="perfect calibration")
    for name, result in curves.items():
        bins = result["reliability"]
        if bins:
            axes.plot(
                [b["mean_predicted"] for b in bins],
                [b["fraction_positive"] for b in bins],
                marker="o",
                label=name,
            )
    axes.set(
        xlabel="mean predicted probability", ylabel="observed fraction positive", xlim=(0, 1), ylim=(0, 1.02)
    )
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def threshold_curve(curve: ThresholdCurve, marked: Mapping[str, float]) -> bytes:
    """Sensitivity and specificity against the decision threshold, with named thresholds marked."""
    figure, axes = plt.subplots(figsize=(7, 3.8))
    axes.step(curve.thresholds, curve.sensitivity, where="post", label="sensitivity")
    axes.step(curve.thresholds, curve.specificity, where="post", label="specificity")
    for name, threshold in marked.items():
        axes.axvline(threshold, color="0.4", linestyle="--", linewidth=0.8)
        axes.annotate(name, (threshold, 0.03), rotation=90, fontsize=8, ha="right")
    axes.set(
        xlabel="threshold (predicted positive if score >= threshold)",
        ylabel="rate",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def lead_importance(importance: Mapping[str, float], title: str) -> bytes:
    """Horizontal bars of per-lead importance, most important on top."""
    ranked = sorted(importance.items(), key=lambda item: item[1])
    figure, axes = plt.subplots(figsize=(6, 4.2))
    axes.barh([lead for lead, _ in ranked], [value for _, value in ranked], color="tab:red")
    axes.set(xlabel="mean attribution mass (|integrated gradients| summed over the lead)", title=title)
    axes.grid(alpha=0.3, axis="x")
    return _png(figure)
