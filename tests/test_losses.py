"""Losses: double soft F1 against a hand computation, BCE weighting, multi-task sums and the DP guard."""

from __future__ import annotations

import math

import pytest
import torch

from shared.losses import LOSS_NAMES, binary_cross_entropy, double_soft_f1, multitask_loss

LOG3 = math.log(3.0)  # sigmoid(LOG3) = 0.75, sigmoid(0) = 0.5, sigmoid(-LOG3) = 0.25


def test_double_soft_f1_equals_hand_computation() -> None:
    logits = torch.tensor([[LOG3, 0.0], [0.0, 0.0], [-LOG3, LOG3]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    # label 0: p = (0.75, 0.5, 0.25), y = (1, 0, 1)
    tp, fp, fn, tn = 0.75 + 0.25, 0.5, 0.25 + 0.75, 0.5
    loss_label0 = ((1 - 2 * tp / (2 * tp + fp + fn)) + (1 - 2 * tn / (2 * tn + fn + fp))) / 2
    # label 1: p = (0.5, 0.5, 0.75), y = (0, 0, 1)
    tp, fp, fn, tn = 0.75, 0.5 + 0.5, 0.25, 0.5 + 0.5
    loss_label1 = ((1 - 2 * tp / (2 * tp + fp + fn)) + (1 - 2 * tn / (2 * tn + fn + fp))) / 2
    expected = (loss_label0 + loss_label1) / 2

    assert double_soft_f1(logits, targets).item() == pytest.approx(expected, rel=1e-5)


def test_double_soft_f1_has_gradients_for_every_logit() -> None:
    logits = torch.tensor([[0.3, -1.0], [1.2, 0.4], [-0.5, 2.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    double_soft_f1(logits, targets).backward()
    assert logits.grad is not None
    assert torch.all(logits.grad != 0)


def test_double_soft_f1_is_lowest_for_correct_confident_predictions() -> None:
    targets = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    signs = 2 * targets - 1
    correct_confident = double_soft_f1(8.0 * signs, targets)
    correct_unsure = double_soft_f1(0.5 * signs, targets)
    undecided = double_soft_f1(torch.zeros_like(targets), targets)
    wrong_confident = double_soft_f1(-8.0 * signs, targets)
    assert correct_confident.item() < 0.01
    assert correct_confident < correct_unsure < undecided < wrong_confident
    assert wrong_confident.item() > 0.99


def test_binary_cross_entropy_pos_weight_scales_positive_terms() -> None:
    logits = torch.tensor([[0.0], [0.0]])
    targets = torch.tensor([[1.0], [0.0]])
    # Each term is -log(0.5) = log 2; weighting positives by 3 gives (3 log 2 + log 2) / 2.
    assert binary_cross_entropy(logits, targets).item() == pytest.approx(math.log(2), rel=1e-6)
    weighted = binary_cross_entropy(logits, targets, pos_weight=torch.tensor([3.0]))
    assert weighted.item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_multitask_loss_is_the_weighted_sum_of_task_losses() -> None:
    torch.manual_seed(0)
    outputs = {"mi": torch.randn(5, 1), "challenge30": torch.randn(5, 30)}
    targets = {task: torch.randint(0, 2, logits.shape).float() for task, logits in outputs.items()}
    for loss in LOSS_NAMES:
        single = double_soft_f1 if loss == "double_soft_f1" else binary_cross_entropy
        expected = 2.0 * single(outputs["mi"], targets["mi"]) + single(
            outputs["challenge30"], targets["challenge30"]
        )
        combined = multitask_loss(outputs, targets, loss=loss, weights={"mi": 2.0})
        assert combined.item() == pytest.approx(expected.item(), rel=1e-6)


def test_multitask_loss_refuses_double_soft_f1_under_dp() -> None:
    outputs, targets = {"mi": torch.zeros(2, 1)}, {"mi": torch.ones(2, 1)}
    with pytest.raises(ValueError, match="differential privacy"):
        multitask_loss(outputs, targets, loss="double_soft_f1", dp=True)
    assert multitask_loss(outputs, targets, loss="bce", dp=True).item() == pytest.approx(
        math.log(2), rel=1e-6
    )


@pytest.mark.parametrize(
    ("outputs", "targets", "kwargs", "message"),
    [
        ({"mi": torch.zeros(2, 1)}, {"mi": torch.ones(2, 1)}, {"loss": "focal"}, "unknown loss 'focal'"),
        ({"mi": torch.zeros(2, 1)}, {"hyp": torch.ones(2, 1)}, {}, r"no targets for task\(s\) \['mi'\]"),
        ({"mi": torch.zeros(2, 1)}, {"mi": torch.ones(2, 1)}, {"weights": {"hyp": 1.0}}, "no head for"),
        ({"mi": torch.zeros(2, 1)}, {"mi": torch.ones(2, 2)}, {}, "same shape"),
    ],
)
def test_multitask_loss_rejects_bad_arguments(outputs, targets, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        multitask_loss(outputs, targets, **kwargs)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_empty_batch_gives_zero_loss_and_zero_gradient(loss: str) -> None:
    # Opacus' Poisson sampling can draw an empty batch; the step must run without NaN.
    logits = torch.zeros(0, 3, requires_grad=True)
    value = multitask_loss({"mi": logits}, {"mi": torch.zeros(0, 3)}, loss=loss)
    value.backward()
    assert value.item() == 0.0
    assert logits.grad is not None and logits.grad.shape == (0, 3)
