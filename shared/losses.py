"""Training losses on the models' logits: binary cross-entropy, double soft F1, and their multi-task sum.

All losses take logits `(batch, labels)` and 0/1 targets of the same shape and return a scalar. An empty batch
(which Opacus' Poisson sampling can draw) gives a zero loss that is still connected to the graph, so the
training step runs and the optimizer sees zero gradients instead of NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

#: Loss names `multitask_loss` accepts.
LOSS_NAMES: tuple[str, ...] = ("bce", "double_soft_f1")

#: Keeps soft F1 defined when a batch has no positives (or no negatives) for a label.
_EPSILON = 1e-7


def _check_shapes(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must have the same shape"
        )


def _empty_batch_loss(logits: torch.Tensor) -> torch.Tensor:
    return logits.sum() * 0.0


def binary_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean binary cross-entropy over samples and labels.

    `pos_weight` `(labels,)` multiplies the loss of positive targets per label, e.g. negatives/positives of
    the training split to counter class imbalance. A per-sample loss averaged over the batch, so it is
    valid under DP-SGD.
    """
    _check_shapes(logits, targets)
    if logits.shape[0] == 0:
        return _empty_batch_loss(logits)
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=pos_weight)


def double_soft_f1(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Double soft F1 loss: per label, mean of (1 - soft F1 of positives) and (1 - soft F1 of negatives).

    With probabilities p = sigmoid(logits), over the batch per label: TP = sum p y, FP = sum p (1 - y),
    FN = sum (1 - p) y, TN = sum (1 - p)(1 - y); soft F1+ = 2TP / (2TP + FP + FN) and
    soft F1- = 2TN / (2TN + FN + FP). The loss is averaged over labels.

    It is not a sum of per-sample losses: every sample's gradient depends on the rest of the batch, so
    per-sample gradient clipping (DP-SGD) does not bound one patient's influence; `multitask_loss` refuses
    it under DP.
    """
    _check_shapes(logits, targets)
    if logits.shape[0] == 0:
        return _empty_batch_loss(logits)
    probabilities = torch.sigmoid(logits)
    targets = targets.to(probabilities.dtype)
    true_positive = (probabilities * targets).sum(dim=0)
    false_positive = (probabilities * (1 - targets)).sum(dim=0)
    false_negative = ((1 - probabilities) * targets).sum(dim=0)
    true_negative = ((1 - probabilities) * (1 - targets)).sum(dim=0)
    f1_positive = 2 * true_positive / (2 * true_positive + false_positive + false_negative + _EPSILON)
    f1_negative = 2 * true_negative / (2 * true_negative + false_negative + false_positive + _EPSILON)
    return (((1 - f1_positive) + (1 - f1_negative)) / 2).mean()


def multitask_loss(
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    loss: str = "bce",
    weights: Mapping[str, float] | None = None,
    pos_weight: Mapping[str, torch.Tensor] | None = None,
    *,
    dp: bool = False,
) -> torch.Tensor:
    """Weighted sum over tasks of `loss` between `outputs[task]` logits and `targets[task]`.

    `weights` defaults to 1 per task; `pos_weight` (per task, BCE only) weights positive labels. Pass
    `dp=True` when training under DP-SGD: only per-sample losses are allowed there, so `double_soft_f1` is
    rejected.
    """
    if loss not in LOSS_NAMES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}")
    if dp and loss == "double_soft_f1":
        raise ValueError(
            "double_soft_f1 cannot be used with differential privacy: it is computed over the whole batch, "
            "so per-sample gradient clipping would not bound one patient's influence; use loss='bce' under DP"
        )
    if pos_weight and loss != "bce":
        raise ValueError(f"pos_weight applies to loss='bce' only, not {loss!r}")
    missing = sorted(set(outputs) - set(targets))
    if missing:
        raise ValueError(f"no targets for task(s) {missing}; targets cover {sorted(targets)}")
    weights = weights or {}
    unknown = sorted(set(weights) - set(outputs))
    if unknown:
        raise ValueError(
            f"weights name task(s) {unknown} the model has no head for; tasks are {sorted(outputs)}"
        )
    total: torch.Tensor | None = None
    for task, logits in outputs.items():
        if loss == "bce":
            task_loss = binary_cross_entropy(logits, targets[task], (pos_weight or {}).get(task))
        else:
            task_loss = double_soft_f1(logits, targets[task])
        weighted = weights.get(task, 1.0) * task_loss
        total = weighted if total is None else total + weighted
    if total is None:
        raise ValueError("multitask_loss needs at least one task output")
    return total
