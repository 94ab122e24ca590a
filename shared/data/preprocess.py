"""Turn one record's raw signal into the fixed-shape array every model consumes.

Steps, in order: pick the 12 standard leads (any spelling) in `LEADS` order, convert to millivolts, crop to
the target duration at the source rate (so long recordings are not resampled in full), resample to the
target rate with a polyphase filter, optionally band-pass, then zero-pad records shorter than the target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from shared.data.dataset import LEADS

_CANONICAL_LEADS = {lead.lower(): lead for lead in LEADS}

# Physical units wfdb reports, as written in headers, and the factor that turns them into millivolts.
# An empty unit means the WFDB default, millivolts.
_MILLIVOLTS_PER_UNIT = {"mv": 1.0, "": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}

_BANDPASS_ORDER = 4  # applied forwards and backwards (zero phase), so the effective order is 8


@dataclass(frozen=True)
class PreprocessConfig:
    """What every record is turned into; part of the preprocessed cache key."""

    sample_rate: int  # Hz
    duration_s: float
    min_duration_s: float  # records shorter than this are skipped, longer ones padded up to duration_s
    bandpass: tuple[float, float] | None = None  # (low_hz, high_hz)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.duration_s <= 0:
            raise ValueError(
                f"sample_rate and duration_s must be positive, got {self.sample_rate}, {self.duration_s}"
            )
        if not 0 < self.min_duration_s <= self.duration_s:
            raise ValueError(
                f"min_duration_s must be in (0, duration_s={self.duration_s}], got {self.min_duration_s}"
            )
        if self.bandpass is not None:
            low, high = self.bandpass
            if not 0 < low < high < self.sample_rate / 2:
                raise ValueError(
                    f"bandpass {self.bandpass} must satisfy 0 < low < high < "
                    f"{self.sample_rate / 2} (half the target sample rate)"
                )

    @property
    def n_samples(self) -> int:
        """Samples per lead after preprocessing."""
        return round(self.sample_rate * self.duration_s)


@dataclass(frozen=True)
class LeadMatch:
    """How a header's signal names map onto the 12 standard leads."""

    positions: tuple[int, ...]  # column of each lead of LEADS in the record (valid only when complete)
    missing: tuple[str, ...]  # standard leads absent from the record, in LEADS order
    duplicated: tuple[str, ...]  # standard leads named more than once
    extra: tuple[str, ...]  # signal names that are not one of the 12 leads (ignored)


def canonical_lead(name: str) -> str | None:
    """The standard spelling of a lead name ("AVR", "avr" -> "aVR"), or None if it is not one of the 12."""
    return _CANONICAL_LEADS.get(name.strip().lower())


def match_leads(signal_names: Sequence[str]) -> LeadMatch:
    """Locate each standard lead among a record's signal names."""
    columns: dict[str, list[int]] = {}
    extra = []
    for column, name in enumerate(signal_names):
        lead = canonical_lead(name)
        if lead is None:
            extra.append(name)
        else:
            columns.setdefault(lead, []).append(column)
    return LeadMatch(
        positions=tuple(columns[lead][0] for lead in LEADS if lead in columns),
        missing=tuple(lead for lead in LEADS if lead not in columns),
        duplicated=tuple(lead for lead in LEADS if len(columns.get(lead, ())) > 1),
        extra=tuple(extra),
    )


def millivolts_per_unit(unit: str | None) -> float | None:
    """Factor converting a header's physical unit to millivolts; None for units that are not voltages."""
    return _MILLIVOLTS_PER_UNIT.get((unit or "").strip().lower())


def resample(signal: np.ndarray, source_rate: float, target_rate: int) -> np.ndarray:
    """Resample (leads, samples) from `source_rate` to `target_rate` Hz with a polyphase FIR filter."""
    # Header rates such as 257 Hz or 360.0 are exact rationals; bounding the denominator keeps the
    # polyphase filter small for the odd float rate written as 499.99.
    ratio = Fraction(target_rate) / Fraction(source_rate).limit_denominator(1000)
    if ratio == 1:
        return signal
    # Imported on first use: scipy.signal takes about a second to import, and every Flower message starts
    # a fresh ClientApp process that usually reads records already resampled in the cache.
    from scipy import signal as sp_signal

    return sp_signal.resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def bandpass_filter(signal: np.ndarray, sample_rate: float, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase Butterworth band-pass of (leads, samples)."""
    from scipy import signal as sp_signal  # on first use, as in resample()

    sos = sp_signal.butter(_BANDPASS_ORDER, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")
    return sp_signal.sosfiltfilt(sos, signal, axis=-1)


def crop_or_pad(signal: np.ndarray, n_samples: int) -> np.ndarray:
    """Keep the first `n_samples` of (leads, samples), zero-padding at the end when shorter."""
    if signal.shape[-1] >= n_samples:
        return signal[..., :n_samples]
    padded = np.zeros((*signal.shape[:-1], n_samples), dtype=signal.dtype)
    padded[..., : signal.shape[-1]] = signal
    return padded


def preprocess_signal(signal_mv: np.ndarray, source_rate: float, config: PreprocessConfig) -> np.ndarray:
    """(12, n) millivolts in LEADS order at `source_rate` -> (12, config.n_samples) float32."""
    needed_at_source = math.ceil(config.duration_s * source_rate)
    signal = resample(signal_mv[:, :needed_at_source], source_rate, config.sample_rate)
    if config.bandpass is not None:
        signal = bandpass_filter(signal, config.sample_rate, *config.bandpass)
    return crop_or_pad(signal, config.n_samples).astype(np.float32)
