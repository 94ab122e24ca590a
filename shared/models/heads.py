"""The part every cardiofed model shares: clinical fusion and one classification head per task.

`MultiTaskECGModel` wraps an architecture's backbone (signals -> feature vector). It encodes the clinical
features, concatenates them to the ECG features (late fusion) and applies one linear head per task, so all
tasks train one backbone and a hospital can add clinical variables without touching the architecture.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from shared.models.clinical import ClinicalEncoder

#: Number of leads every model expects, in `shared.data.dataset.LEADS` order.
LEAD_COUNT = 12


class ECGBackbone(nn.Module):
    """What every architecture provides: signals `(batch, 12, samples)` -> features `(batch, out_features)`.

    Subclasses set `out_features` in their constructor. A backbone that reads ECG images sets `reads_images`
    and then also accepts the image layout's `(batch, 1, height, width)` images in place of signals.
    """

    out_features: int
    reads_images: bool = False


class MultiTaskECGModel(nn.Module):
    """`model(signals, clinical=None) -> {task: logits (batch, labels_of_task)}`.

    `backbone` maps `(batch, 12, samples)` (or images, when it `reads_images`) to
    `(batch, backbone.out_features)`. `clinical` is `(batch, F)` raw values with NaN where missing, or None
    (then every feature counts as missing; see `ClinicalEncoder`).
    `opacus_grad_sample_mode` is the per-sample gradient mode that is correct and fastest for this
    architecture under Opacus (`PrivacyEngine.make_private(..., grad_sample_mode=...)`).
    """

    def __init__(
        self,
        name: str,
        backbone: ECGBackbone,
        tasks: Mapping[str, int],
        clinical_features: int,
        *,
        dp: bool,
        opacus_grad_sample_mode: str,
    ) -> None:
        super().__init__()
        if not tasks:
            raise ValueError(f"{name}: at least one task is needed, e.g. tasks={{'mi': 1}}")
        for task, labels in tasks.items():
            if not task.isidentifier():
                raise ValueError(
                    f"{name}: task name {task!r} must be a Python identifier (letters, digits, _)"
                )
            if labels < 1:
                raise ValueError(f"{name}: task {task!r} needs at least one label, got {labels}")
        self.name = name
        self.tasks = dict(tasks)
        self.dp = dp
        self.opacus_grad_sample_mode = opacus_grad_sample_mode
        self.backbone = backbone
        self.clinical_encoder = ClinicalEncoder(clinical_features)
        fused_width = backbone.out_features + self.clinical_encoder.out_features
        self.heads = nn.ModuleDict({task: nn.Linear(fused_width, labels) for task, labels in tasks.items()})

    def forward(self, signals: torch.Tensor, clinical: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        is_signal = signals.ndim == 3 and signals.shape[1] == LEAD_COUNT
        if not is_signal and not (self.backbone.reads_images and signals.ndim == 4):
            shape = tuple(signals.shape)
            message = f"{self.name}: signals must have shape (batch, {LEAD_COUNT}, samples), got {shape}"
            if self.backbone.reads_images:
                message += "; ECG images must have shape (batch, 1, height, width)"
            elif signals.ndim == 4:
                message += "; ECG images need an image model such as multitask_image"
            raise ValueError(message)
        features = self.backbone(signals)
        fused = torch.cat([features, self.clinical_encoder(clinical, signals.shape[0])], dim=1)
        return {task: head(fused) for task, head in self.heads.items()}
