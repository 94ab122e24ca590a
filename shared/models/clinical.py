"""Clinical features (age, sex, risk factors) as model input: imputation, scaling and missingness.

The transform is part of the model: `ClinicalEncoder` keeps the per-feature mean and standard deviation
as buffers, so they travel in the model's state dict and a hospital that never trained still encodes its
patients exactly as the federation did. The statistics themselves are computed without pooling patient rows:
each hospital calls `clinical_statistics` on its training split and sends only the per-feature counts and
sums; the coordinator turns the collected aggregates into the transform with `combine_clinical_statistics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

#: Keys of the aggregate a hospital shares about its clinical features (per-feature float64 arrays).
STATISTIC_KEYS: tuple[str, ...] = ("count", "sum", "sumsq")


class ClinicalEncoder(nn.Module):
    """Encodes raw clinical features `(batch, F)` (NaN where missing) into `(batch, 2F)` model inputs.

    The first F columns are the standardised values with missing entries imputed by the mean (so they
    encode to 0); the last F columns are missingness indicators (1.0 where the raw value was NaN).
    With `clinical=None` every feature is treated as missing, so a model trained with clinical features
    still runs on ECGs that arrive without them. With zero features the encoder outputs `(batch, 0)`.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, features: int) -> None:
        super().__init__()
        if features < 0:
            raise ValueError(f"number of clinical features must be >= 0, got {features}")
        self.features = features
        # Identity transform until the federation sets statistics from hospital aggregates.
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    @property
    def out_features(self) -> int:
        """Width of the encoding: one standardised value and one missingness indicator per feature."""
        return 2 * self.features

    def set_statistics(self, mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray) -> None:
        """Set the imputation/scaling transform (e.g. from `combine_clinical_statistics`)."""
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32))
        if mean_t.shape != (self.features,) or std_t.shape != (self.features,):
            raise ValueError(
                f"clinical statistics must have shape ({self.features},); "
                f"got mean {tuple(mean_t.shape)} and std {tuple(std_t.shape)}"
            )
        if not (torch.isfinite(mean_t).all() and torch.isfinite(std_t).all() and (std_t > 0).all()):
            raise ValueError(
                f"clinical statistics must be finite with std > 0; got mean {mean_t.tolist()}, "
                f"std {std_t.tolist()}"
            )
        self.mean.copy_(mean_t)
        self.std.copy_(std_t)

    def forward(self, clinical: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """Encode `clinical` `(batch_size, F)`, or all-missing features when `clinical` is None."""
        if clinical is None:
            values = self.mean.new_zeros((batch_size, self.features))
            missing = self.mean.new_ones((batch_size, self.features))
            return torch.cat([values, missing], dim=1)
        if clinical.shape != (batch_size, self.features):
            raise ValueError(
                f"clinical features must have shape ({batch_size}, {self.features}) to match the signals; "
                f"got {tuple(clinical.shape)}"
            )
        clinical = clinical.to(self.mean.dtype)
        missing = torch.isnan(clinical)
        imputed = torch.where(missing, self.mean, clinical)
        return torch.cat([(imputed - self.mean) / self.std, missing.to(clinical.dtype)], dim=1)


def clinical_statistics(clinical: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature aggregates of one hospital's raw clinical features `(records, F)`, NaN where missing.

    Returns float64 arrays of shape `(F,)` under `STATISTIC_KEYS`: the number of observed values, their sum
    and their sum of squares. These are what leaves the hospital, never the rows.
    """
    values = np.asarray(clinical, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(
            f"clinical features must be a 2-D (records, features) array, got shape {values.shape}"
        )
    observed = ~np.isnan(values)
    filled = np.where(observed, values, 0.0)
    return {
        "count": observed.sum(axis=0).astype(np.float64),
        "sum": filled.sum(axis=0),
        "sumsq": (filled**2).sum(axis=0),
    }


def combine_clinical_statistics(
    statistics: Sequence[Mapping[str, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature from several hospitals' `clinical_statistics`.

    The result equals what the pooled rows would give (population standard deviation). A feature that no
    hospital observed gets mean 0 and std 1, and a constant feature gets std 1, so the transform is always
    defined; the missingness indicator still carries the information in the first case.
    """
    if not statistics:
        raise ValueError("no clinical statistics to combine")
    widths = {np.asarray(s["count"]).shape for s in statistics}
    if len(widths) != 1:
        raise ValueError(f"hospitals report different numbers of clinical features: {sorted(widths)}")
    count, total, total_sq = (
        np.sum([np.asarray(s[key], dtype=np.float64) for s in statistics], axis=0) for key in STATISTIC_KEYS
    )
    observed = count > 0
    safe_count = np.where(observed, count, 1.0)
    mean = np.where(observed, total / safe_count, 0.0)
    # sumsq/n - mean^2 can dip below zero by rounding for constant features.
    variance = np.maximum(np.where(observed, total_sq / safe_count - mean**2, 1.0), 0.0)
    std = np.sqrt(variance)
    std = np.where(std > 1e-6 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    return mean, std
