"""The model zoo: every architecture by name, built the same way, with the same multi-task interface.

    model = create_model("resnet1d", tasks={"mi": 1}, clinical_features=2, dp=False, widths=(32, 64))
    logits = model(signals, clinical)["mi"]        # signals (batch, 12, samples), clinical (batch, 2) or None

Hyperparameters (width, depth, ...) are keyword arguments of each architecture's backbone class and are
checked by name, so a typo is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from shared.models.clinical import ClinicalEncoder, clinical_statistics, combine_clinical_statistics
from shared.models.conv_bilstm_attn import ConvBiLSTMAttention
from shared.models.ecg_image import render_ecg_image, save_ecg_image_png
from shared.models.ecg_smart_net import ECGSmartNet
from shared.models.heads import ECGBackbone, MultiTaskECGModel
from shared.models.inception1d import Inception1d
from shared.models.median_beat import MedianBeatNet
from shared.models.multitask_image import MultitaskImageNet
from shared.models.resnet1d import ResNet1d

#: Age and sex, the clinical features every data layout provides.
DEFAULT_CLINICAL_FEATURES = 2


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture."""

    backbone: type[ECGBackbone]
    summary: str
    expected_input: str
    #: Fastest correct Opacus per-sample gradient mode for the DP variant (measured by bench/models.py).
    opacus_grad_sample_mode: str


_SIGNALS = "12-lead signals, any rate and length; sized for 100 Hz x 10 s"

_REGISTRY: dict[str, ModelSpec] = {
    "resnet1d": ModelSpec(ResNet1d, "plain 1-D ResNet baseline", _SIGNALS, "ew"),
    "conv_bilstm_attn": ModelSpec(
        ConvBiLSTMAttention,
        "conv blocks, bidirectional LSTM, additive attention; late age/sex fusion",
        _SIGNALS,
        "hooks",
    ),
    "ecg_smart_net": ModelSpec(
        ECGSmartNet,
        "ResNet-18 layout, 1xk temporal kernels per lead, then a 12x1 spatial convolution",
        _SIGNALS,
        "functorch",
    ),
    "inception1d": ModelSpec(
        Inception1d,
        "1-D Inception network with residual shortcuts every 3 modules",
        "12-lead signals, any rate and length; best at 75 Hz in its study",
        "functorch",
    ),
    "multitask_image": ModelSpec(
        MultitaskImageNet,
        "2-D ResNet on the rendered 12-lead ECG image (3x4 + rhythm strip), shared by all heads",
        "12-lead signals (drawn as a 256x512 ECG image) or such images (image layout)",
        "ew",
    ),
    "median_beat": ModelSpec(
        MedianBeatNet,
        "small network on each lead's median beat (beats found in the model); learns under DP-SGD",
        "12-lead signals, any length of at least one beat, at the run's sample rate",
        "ew",
    ),
}

#: Every model name `create_model` accepts.
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)

# Hyperparameters that switch off each model's training-time randomness (dropout, time-shift augmentation),
# for checks comparing a batch's per-sample gradients with one-record passes (both must see the same inputs).
WITHOUT_TRAINING_RANDOMNESS: dict[str, dict[str, float]] = {
    "conv_bilstm_attn": {"dropout": 0.0},
    "multitask_image": {"time_shift": 0.0},
}


def create_model(
    name: str,
    tasks: Mapping[str, int],
    clinical_features: int = DEFAULT_CLINICAL_FEATURES,
    dp: bool = False,
    sample_rate: int = 100,
    **hyperparameters: Any,
) -> MultiTaskECGModel:
    """Build model `name` with one head per task (`{task: number_of_labels}`) and clinical fusion.

    `dp=True` builds the variant Opacus accepts (GroupNorm for BatchNorm, DPLSTM for LSTM). `sample_rate`
    (Hz) reaches the architectures that measure time in seconds (`median_beat`); the others ignore it.
    The clinical encoder starts as the identity transform: call
    `model.clinical_encoder.set_statistics(mean, std)` with the training data's statistics (see
    `combine_clinical_statistics`) before training.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    spec = _REGISTRY[name]
    signature = inspect.signature(spec.backbone).parameters
    accepted = [p for p in signature if p not in ("dp", "sample_rate")]
    unknown = sorted(set(hyperparameters) - set(accepted))
    if unknown:
        raise TypeError(f"model {name!r} has no hyperparameter(s) {unknown}; it accepts {accepted}")
    if "sample_rate" in signature:
        hyperparameters["sample_rate"] = sample_rate
    backbone = spec.backbone(dp=dp, **hyperparameters)
    return MultiTaskECGModel(
        name, backbone, tasks, clinical_features, dp=dp, opacus_grad_sample_mode=spec.opacus_grad_sample_mode
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe_models() -> list[dict[str, Any]]:
    """One row per model for listings: name, summary, parameters (default size, task `mi`, age and sex),
    expected input, whether a DP variant exists, and the Opacus mode it trains with."""
    return [
        {
            "name": name,
            "summary": spec.summary,
            "parameters": count_parameters(create_model(name, {"mi": 1}, DEFAULT_CLINICAL_FEATURES)),
            "expected_input": spec.expected_input,
            "dp_variant": True,
            "opacus_grad_sample_mode": spec.opacus_grad_sample_mode,
        }
        for name, spec in _REGISTRY.items()
    ]


__all__ = [
    "DEFAULT_CLINICAL_FEATURES",
    "MODEL_NAMES",
    "WITHOUT_TRAINING_RANDOMNESS",
    "ClinicalEncoder",
    "ECGBackbone",
    "ModelSpec",
    "MultiTaskECGModel",
    "clinical_statistics",
    "combine_clinical_statistics",
    "count_parameters",
    "create_model",
    "describe_models",
    "render_ecg_image",
    "save_ecg_image_png",
]
