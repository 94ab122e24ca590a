"""Does an Opacus grad-sample mode give every record its own gradient for a model?

DP-SGD clips each record's gradient, so a model trained with it must not mix records in a batch, and the mode
Opacus computes per-sample gradients with must be exact for the model's layers. The check compares the
per-sample gradients Opacus computes for a small batch with each record's gradient from a pass on its own.
It runs in float64: in float32 a batch and a single record take different convolution kernels, and round-off
alone (per-channel GroupNorm over a nearly flat channel) made them differ by up to 3% for inception1d, which
says nothing about the mode; in float64 every model's declared mode agrees to 1e-12.
"""

from __future__ import annotations

import torch
from opacus.grad_sample.utils import prepare_module

from shared.models.heads import MultiTaskECGModel


def per_sample_gradient_mismatches(
    model: MultiTaskECGModel, mode: str, signals: torch.Tensor, clinical: torch.Tensor
) -> list[str]:
    """`parameter name, sample i` for every per-sample gradient in Opacus `mode` that differs from record i's
    own gradient (summed over every task's logits); empty when the mode is exact.

    Build `model` with `WITHOUT_TRAINING_RANDOMNESS` so that both passes see the same inputs. The model is
    converted to float64 and wrapped by Opacus in place: use a fresh one. Raises Opacus' `RuntimeError`
    when the mode does not support one of the model's layers.
    """
    model = model.double()
    signals, clinical = signals.double(), clinical.double()

    def backward(outputs: dict[str, torch.Tensor]) -> None:
        torch.stack([logits.sum() for logits in outputs.values()]).sum().backward()

    own_gradients = []
    for index in range(len(signals)):
        model.zero_grad()
        backward(model(signals[index : index + 1], clinical=clinical[index : index + 1]))
        own_gradients.append(
            {
                name: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
                for name, p in model.named_parameters()
            }
        )
    model.zero_grad()
    backward(prepare_module(model, mode, loss_reduction="sum")(signals, clinical=clinical))
    return [
        f"{name}, sample {index}"
        for name, parameter in model.named_parameters()
        for index, own in enumerate(own_gradients)
        # grad_sample is set by Opacus
        if not torch.allclose(parameter.grad_sample[index], own[name], rtol=1e-9, atol=1e-12)  # type: ignore[attr-defined]
    ]
