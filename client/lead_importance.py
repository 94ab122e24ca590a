"""Per-lead importance, computed where the ECGs are and reduced to one mean per lead.

A lead's importance for a record is its attribution mass: the sum over the lead's samples of the absolute
integrated-gradients attribution (captum, zero-signal baseline) of the label's logit, averaged over the
task's labels. Attribution rather than flattening one lead at a time: leads carry redundant views of the
same heart (V1-V4 all see the anterior wall), so flattening any one of them barely moves the prediction
while integrated gradients shares the credit among them. The logit rather than the probability, because
a confident model's saturated probability would hide every lead.
Only the mean over the hospital's records and the record count leave the hospital, as
`lead-importance/<task>/<lead> = [mean, records]`; the coordinator weights hospitals by their counts.
"""

from __future__ import annotations

import numpy as np
import torch

from shared import contract
from shared.data import LEADS, ECGDataset

_STEPS = 16  # integration steps: lead rankings are stable well below captum's default of 50


def lead_attribution_mass(
    model: torch.nn.Module, signals: torch.Tensor, clinical: torch.Tensor, task: str, label: int
) -> torch.Tensor:
    """Absolute integrated-gradients attribution of the label's logit summed per lead: shape (batch, 12)."""
    # Imported here: captum would add to the start-up of every ClientApp process, and only the final
    # evaluation of a run with lead importance on needs it.
    from captum.attr import IntegratedGradients

    def logit(x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return model(x, features)[task][:, label]

    attribution = IntegratedGradients(logit).attribute(
        signals, baselines=0.0, additional_forward_args=(clinical,), n_steps=_STEPS
    )
    return attribution.abs().sum(dim=-1).detach()


def mean_lead_importance(
    model: torch.nn.Module, data: ECGDataset, task: str, device: torch.device, batch_size: int = 16
) -> np.ndarray:
    """Mean attribution mass of each lead over the records of `data` and the task's labels."""
    model.to(device).eval()
    labels = data.labels[task].shape[1]
    total = np.zeros(len(LEADS), dtype=np.float64)
    for start in range(0, len(data), batch_size):
        signals = torch.as_tensor(np.asarray(data.signals[start : start + batch_size], dtype=np.float32))
        clinical = torch.as_tensor(np.asarray(data.clinical[start : start + batch_size], dtype=np.float32))
        signals, clinical = signals.to(device), clinical.to(device)
        for label in range(labels):
            mass = lead_attribution_mass(model, signals, clinical, task, label)
            total += mass.sum(dim=0).double().cpu().numpy() / labels
    return total / max(len(data), 1)


def lead_importance_metrics(
    model: torch.nn.Module, data: ECGDataset, tasks: tuple[str, ...], device: torch.device
) -> dict[str, list[float]]:
    """The aggregate a hospital sends: per task and lead, `[mean importance, number of records]`."""
    if len(data) == 0:
        return {}
    metrics = {}
    for task in tasks:
        importance = mean_lead_importance(model, data, task, device)
        for lead, value in zip(LEADS, importance, strict=True):
            metrics[contract.lead_importance_key(task, lead)] = [float(value), float(len(data))]
    return metrics
