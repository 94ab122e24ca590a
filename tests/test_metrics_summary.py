"""The per-label summary stored in results.json, and the multi-label summary, against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics as skm

from shared.metrics import (
    auroc_binning_error_bound,
    binary_metrics,
    multilabel_summary,
    score_histograms,
    youden_threshold,
)

RESULTS_KEYS = {
    "auroc",
    "auprc",
    "youden_threshold",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "f1_weighted",
    "n",
    "positives",
    "transfer",
}


def hospital(seed: int, n: int, prevalence: float, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(int)
    return expit(rng.normal(shift, 1.4, n) + 1.6 * labels), labels


def test_binary_metrics_match_sklearn_and_transfer_a_threshold() -> None:
    """LOHO threshold transfer: the training pool's Youden threshold applied at a shifted held-out site."""
    train_scores, train_labels = hospital(0, 1500, 0.2, shift=-1.0)
    scores, labels = hospital(1, 800, 0.1, shift=-0.5)
    transferred = youden_threshold(*score_histograms(train_scores, train_labels))
    assert transferred is not None
    result = binary_metrics(*score_histograms(scores, labels), transfer_threshold=transferred)
    assert set(result) >= RESULTS_KEYS
    assert result["auroc"] == pytest.approx(skm.roc_auc_score(labels, scores), abs=0.002)
    assert result["auprc"] == pytest.approx(skm.average_precision_score(labels, scores), abs=0.005)
    assert result["n"] == 800 and result["positives"] == labels.sum() and result["not_estimable"] is None
    oracle, transfer = result["youden_threshold"], result["transfer"]
    assert oracle is not None and oracle != transferred and transfer is not None
    for threshold, sensitivity, f1_weighted in (
        (oracle, result["sensitivity"], result["f1_weighted"]),
        (transferred, transfer["sensitivity"], transfer["f1_weighted"]),
    ):
        predicted = (scores >= threshold).astype(int)
        assert sensitivity == pytest.approx(skm.recall_score(labels, predicted))
        assert f1_weighted == pytest.approx(skm.f1_score(labels, predicted, average="weighted"))
    assert binary_metrics(*score_histograms(scores, labels))["transfer"] is None


@pytest.mark.parametrize(
    ("labels", "reason"),
    [([0, 0, 0], "no positive records"), ([1, 1, 1], "no negative records"), ([], "no records")],
)
def test_binary_metrics_without_a_class_are_none_with_a_reason_and_valid_json(
    labels: list, reason: str
) -> None:
    scores = np.linspace(0.2, 0.8, len(labels))
    result = binary_metrics(*score_histograms(scores, np.array(labels)), transfer_threshold=0.5)
    assert result["auroc"] is None and result["youden_threshold"] is None and result["sensitivity"] is None
    assert result["not_estimable"] == reason
    assert result["transfer"] is not None and result["transfer"]["n"] == len(labels)
    json.dumps(result, allow_nan=False)  # no NaN sneaks into results.json


def test_tiny_held_out_site_is_computed_not_crashed() -> None:
    """Like PTB-XL site 2 in the 500-record subset: 3 positives, so one (positive, negative) pair is 1/171
    of the AUROC and a pair sharing a bin may move it by more than 0.002, within the stated bound."""
    scores, labels = hospital(2, 60, 0.0, shift=-1.0)
    labels[:3] = 1
    pos, neg = score_histograms(scores, labels)
    result = binary_metrics(pos, neg)
    bound = auroc_binning_error_bound(pos, neg)
    assert result["positives"] == 3 and result["auroc"] is not None and bound is not None
    assert abs(result["auroc"] - skm.roc_auc_score(labels, scores)) <= bound
    json.dumps(result, allow_nan=False)


def test_multilabel_summary_matches_sklearn_per_label_and_macro() -> None:
    rng = np.random.default_rng(7)
    n, names = 600, ["NORM", "MI", "STTC", "CD"]
    labels = (rng.random((n, 4)) < [0.4, 0.15, 0.2, 0.05]).astype(int)
    scores = expit(rng.normal(-1, 1.3, (n, 4)) + 1.8 * labels)
    per_label = {name: score_histograms(scores[:, i], labels[:, i]) for i, name in enumerate(names)}
    summary = multilabel_summary(per_label, threshold=0.5)
    predicted = (scores >= 0.5).astype(int)
    np.testing.assert_allclose(
        np.array([summary["per_label"][name]["auroc"] for name in names], dtype=float),
        skm.roc_auc_score(labels, scores, average=None),
        atol=0.002,
    )
    assert summary["macro"]["auroc"] == pytest.approx(
        skm.roc_auc_score(labels, scores, average="macro"), abs=0.002
    )
    assert summary["macro"]["auprc"] == pytest.approx(
        skm.average_precision_score(labels, scores, average="macro"), abs=0.005
    )
    assert summary["macro"]["f1"] == pytest.approx(skm.f1_score(labels, predicted, average="macro"))
    per_label_thresholds = dict(zip(names, [0.3, 0.5, 0.6, 0.7], strict=True))
    tuned = multilabel_summary(per_label, threshold=per_label_thresholds)
    expected_f1 = skm.f1_score(labels, (scores >= [0.3, 0.5, 0.6, 0.7]).astype(int), average=None)
    tuned_f1 = np.array([tuned["per_label"][name]["f1"] for name in names], dtype=float)
    np.testing.assert_allclose(tuned_f1, expected_f1)


def test_multilabel_macro_leaves_out_undefined_values() -> None:
    scores = np.array([0.2, 0.4, 0.6, 0.8])
    per_label = {
        "MI": score_histograms(scores, np.array([0, 0, 1, 1])),
        "rare": score_histograms(scores, np.array([0, 0, 0, 0])),
    }
    summary = multilabel_summary(per_label)
    assert summary["per_label"]["rare"]["auroc"] is None
    assert summary["per_label"]["rare"]["not_estimable"] == "no positive records"
    assert summary["macro"]["auroc"] == 1.0  # the rare label has no AUROC: left out of the mean
    assert summary["per_label"]["rare"]["f1"] == 0.0 and summary["macro"]["f1"] == 0.5  # two false positives
    never_predicted = multilabel_summary(per_label, threshold={"MI": 0.5, "rare": 1.0})
    assert never_predicted["per_label"]["rare"]["f1"] is None and never_predicted["macro"]["f1"] == 1.0
    with pytest.raises(ValueError, match="thresholds given for"):
        multilabel_summary(per_label, threshold={"MI": 0.5})
    with pytest.raises(ValueError, match="no labels"):
        multilabel_summary({})
