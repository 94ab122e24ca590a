"""Saliency at the hospital: which leads and waveform segments drove the model's call on one ECG.

`cardiofed explain` loads a model file the coordinator wrote (`RUN_DIR/models/*.pt`), reads one of the
hospital's own records exactly as training preprocessed it, attributes the predicted probability to every
sample of every lead with captum, and draws the 12 leads with the attribution overlaid. Nothing leaves
the hospital: the picture is written to the hospital's own disk.

Methods: `integrated-gradients` (all models; zero-signal baseline), `occlusion` (all models; flattening
0.2 s windows of one lead in turn) and `grad-cam` (the convolutional signal models: the last
convolution's class activation map, stretched over time and shared by the leads it does not separate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.data import LEADS, load_dataset
from shared.model_file import ModelFile, load_model_file

METHODS: tuple[str, ...] = ("integrated-gradients", "occlusion", "grad-cam")
#: Models whose convolutions see a drawn image, not the signal: Grad-CAM maps cannot be laid on leads.
_IMAGE_MODELS = ("multitask_image",)
_OCCLUSION_WINDOW_S = 0.2


@dataclass(frozen=True)
class Explanation:
    """One explained record: the prediction, the attribution (12, samples) and where the picture went."""

    record: str
    task: str
    label: str
    probability: float
    method: str
    attribution: np.ndarray
    image: Path

    def lead_mass(self) -> dict[str, float]:
        """Total absolute attribution per lead: how much each lead drove this call."""
        return dict(zip(LEADS, np.abs(self.attribution).sum(axis=1).tolist(), strict=True))


def _probability_of(model: nn.Module, task: str, label: int) -> Callable[..., torch.Tensor]:
    """Captum's forward function: the label's probability per example."""

    def probability(signals: torch.Tensor, clinical: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(signals, clinical)[task][:, label])

    return probability


def _last_convolution(model: nn.Module) -> nn.Module:
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    if not convolutions:
        raise ValueError("grad-cam needs a convolutional model; use integrated-gradients or occlusion")
    return convolutions[-1]


def attribute(
    loaded: ModelFile, signal: np.ndarray, clinical: np.ndarray, task: str, label: int, method: str
) -> np.ndarray:
    """Attribution of the label's predicted probability to each sample of each lead: shape (12, samples)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    # captum and matplotlib load on first use: every `cardiofed` command imports this module for METHODS.
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion

    model = loaded.model.eval()
    signals = torch.as_tensor(signal, dtype=torch.float32).unsqueeze(0)
    features = torch.as_tensor(clinical, dtype=torch.float32).unsqueeze(0)
    forward = _probability_of(model, task, label)
    if method == "integrated-gradients":
        attribution = IntegratedGradients(forward).attribute(
            signals, baselines=0.0, additional_forward_args=(features,), n_steps=32
        )
    elif method == "occlusion":
        window = max(1, round(_OCCLUSION_WINDOW_S * loaded.sample_rate))
        attribution = Occlusion(forward).attribute(
            signals,
            sliding_window_shapes=(1, window),
            strides=(1, window),
            baselines=0.0,
            additional_forward_args=(features,),
            perturbations_per_eval=64,
        )
    else:
        if loaded.model_name in _IMAGE_MODELS:
            raise ValueError(
                f"grad-cam maps of {loaded.model_name} lie on the drawn image, not on the leads; "
                "use integrated-gradients or occlusion"
            )
        cam = LayerGradCam(forward, _last_convolution(model)).attribute(
            signals, additional_forward_args=(features,), relu_attributions=True
        )
        # A 1-D layer maps time only (batch, 1, time'); a 2-D one may keep leads (batch, 1, leads', time').
        size = (signals.shape[-1],) if cam.ndim == 3 else (len(LEADS), signals.shape[-1])
        attribution = LayerAttribution.interpolate(
            cam, size, interpolate_mode="linear" if cam.ndim == 3 else "bilinear"
        ).expand(1, len(LEADS), -1)
    return attribution.detach().reshape(len(LEADS), -1).numpy()


def plot_explanation(signal: np.ndarray, explanation: Explanation, sample_rate: int) -> None:
    """12 stacked leads with the attribution as a red (for) / blue (against) band behind each trace."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: hospitals run this on headless servers
    import matplotlib.pyplot as plt

    seconds = np.arange(signal.shape[1]) / sample_rate
    scale = float(np.abs(explanation.attribution).max()) or 1.0
    figure, axes = plt.subplots(len(LEADS), 1, figsize=(12, 14), sharex=True)
    for lead_index, (axis, lead) in enumerate(zip(axes, LEADS, strict=True)):
        low, high = float(signal[lead_index].min()), float(signal[lead_index].max())
        margin = max(0.1, 0.1 * (high - low))
        axis.imshow(
            explanation.attribution[lead_index][None, :],
            aspect="auto",
            cmap="RdBu_r",
            vmin=-scale,
            vmax=scale,
            alpha=0.6,
            interpolation="nearest",
            extent=(seconds[0], seconds[-1], low - margin, high + margin),
        )
        axis.plot(seconds, signal[lead_index], color="black", linewidth=0.7)
        axis.set_ylim(low - margin, high + margin)
        axis.set_ylabel(lead, rotation=0, labelpad=18)
        axis.set_yticks([])
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(
        f"{explanation.record}: P({explanation.task}/{explanation.label}) = "
        f"{explanation.probability:.3f}; {explanation.method} (red pushes the score up)"
    )
    figure.tight_layout()
    explanation.image.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(explanation.image, dpi=100)
    plt.close(figure)


def explain_record(
    data_path: str | Path,
    record: str,
    checkpoint: str | Path,
    out: str | Path,
    *,
    task: str | None = None,
    label: str | None = None,
    method: str = "integrated-gradients",
) -> Explanation:
    """Explain one record of the hospital folder `data_path` with the model file `checkpoint`; write `out`.

    `record` is the record's id relative to the folder (as `cardiofed data check` lists it) or its file
    name. `task` and `label` default to the model's first. Raises ValueError naming the record, task or
    label when they are not found.
    """
    loaded = load_model_file(checkpoint)
    task = task or next(iter(loaded.label_names))
    if task not in loaded.label_names:
        raise ValueError(
            f"{checkpoint}: the model has no task {task!r} (it has {', '.join(loaded.label_names)})"
        )
    names = loaded.label_names[task]
    label_name = label or names[0]
    if label_name not in names:
        raise ValueError(f"task {task!r} has no label {label_name!r} (labels: {', '.join(names)})")
    data = load_dataset(
        data_path,
        hospital_by="none",
        tasks=tuple(loaded.label_names),
        sample_rate=loaded.sample_rate,
        duration_s=loaded.duration_s,
        progress=False,
    )
    matches = [i for i, info in enumerate(data.records) if record in (info.record, Path(info.record).name)]
    if not matches:
        skipped = [s.reason for s in data.skipped if record in (s.record, Path(s.record).name)]
        detail = (
            f"it was skipped: {skipped[0]}"
            if skipped
            else f"e.g. {data.records[0].record}"
            if data.records
            else ""
        )
        raise ValueError(f"{data_path}: no usable record {record!r} ({detail})")
    index = matches[0]
    # Copies: the cached signals are a read-only memmap.
    signal = np.array(data.signals[index], dtype=np.float32)
    missing = [name for name in loaded.clinical_names if name not in data.clinical_names]
    if missing:
        raise ValueError(f"{data_path}: the model needs clinical features {missing} that this folder lacks")
    columns = [data.clinical_names.index(name) for name in loaded.clinical_names]
    clinical = np.array(data.clinical[index, columns], dtype=np.float32)
    label_index = names.index(label_name)
    with torch.no_grad():
        logits = loaded.model(torch.as_tensor(signal)[None], torch.as_tensor(clinical)[None])
    explanation = Explanation(
        record=data.records[index].record,
        task=task,
        label=label_name,
        probability=float(torch.sigmoid(logits[task][0, label_index])),
        method=method,
        attribution=attribute(loaded, signal, clinical, task, label_index, method),
        image=Path(out),
    )
    plot_explanation(signal, explanation, loaded.sample_rate)
    return explanation
