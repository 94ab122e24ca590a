"""Per-record quality checks and the exact wording users see for each problem.

Each check returns None when the record passes, or the reason it is skipped. Reasons are stable strings:
tests assert them and `cardiofed data check` shows them verbatim. Flags mark records that are kept but
imperfect (missing demographics are imputed by the model's clinical encoder, not here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shared.data.dataset import LEADS
from shared.data.preprocess import LeadMatch, millivolts_per_unit

#: A lead whose peak-to-peak amplitude over the whole record is below this (mV) carries no signal. Real
#: ECG leads, even low-voltage ones, swing well over 0.1 mV with every QRS complex.
FLAT_PEAK_TO_PEAK_MV = 0.01
#: Consecutive samples at the ADC limit for this long mean a clipped (saturated) lead, not a QRS peak.
SATURATION_MIN_RUN_S = 0.2

MISSING_AGE = "missing age"
MISSING_SEX = "missing sex"
EXTRA_LEADS_IGNORED = "extra leads ignored"  # non-standard signals beside the 12 leads; the 12 are kept

# Bytes on disk per sample for the WFDB formats whose file size follows from the sample count (the FLAC
# formats 508/516/524 are compressed and cannot be checked this way).
_BYTES_PER_SAMPLE = {
    "8": 1,
    "80": 1,
    "16": 2,
    "61": 2,
    "160": 2,
    "24": 3,
    "32": 4,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}
# Resolution in bits of each format, used when a header does not state its ADC resolution.
_FORMAT_BITS = {
    "8": 8,
    "80": 8,
    "16": 16,
    "61": 16,
    "160": 16,
    "24": 24,
    "32": 32,
    "212": 12,
    "310": 10,
    "311": 10,
}


def _plural(word: str, items: Sequence[str]) -> str:
    return f"{word}s" if len(items) > 1 else word


def unreadable(file: str, error: object) -> str:
    """Reason for a file that wfdb (or the OS) could not read."""
    return f"unreadable: {file}: {error}"


def unreadable_metadata_row(line: int, detail: str) -> str:
    """Reason for a metadata CSV row that cannot be interpreted; `line` is the line number in the file."""
    return f"unreadable metadata row {line}: {detail}"


def check_sampling_rate(header_path: Path) -> str | None:
    """A header whose record line has no sampling frequency.

    wfdb silently substitutes 250 Hz for a missing frequency, which would mis-resample the record, so the
    record line itself is inspected (the third field is the frequency).
    """
    for line in header_path.read_text(errors="replace").splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 3 or not _is_positive_number(fields[2].split("/")[0]):
            return "sampling rate missing in header"
        return None
    return "sampling rate missing in header"


def _is_positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def check_truncation(
    record_dir: Path,
    file_names: Sequence[str],
    formats: Sequence[str],
    byte_offsets: Sequence[int | None],
    sig_len: int | None,
) -> str | None:
    """A signal file holding fewer samples than the header announces (one entry per header signal)."""
    if sig_len is None:
        return None
    channels_per_file: dict[str, int] = {}
    for name in file_names:
        channels_per_file[name] = channels_per_file.get(name, 0) + 1
    for name, fmt, offset in zip(file_names, formats, byte_offsets, strict=True):
        path = record_dir / name
        if fmt not in _BYTES_PER_SAMPLE or not path.is_file():
            continue
        frame_bytes = _BYTES_PER_SAMPLE[fmt] * channels_per_file[name]
        samples_on_disk = int((path.stat().st_size - (offset or 0)) // frame_bytes)
        if samples_on_disk < sig_len:
            return f"truncated: {name} has {samples_on_disk} samples, header says {sig_len}"
    return None


def check_leads(match: LeadMatch) -> str | None:
    """Standard leads absent from the record, or named twice (which copy to trust is unknowable)."""
    if match.missing:
        return f"missing {_plural('lead', match.missing)}: {', '.join(match.missing)}"
    if match.duplicated:
        return f"duplicated {_plural('lead', match.duplicated)}: {', '.join(match.duplicated)}"
    return None


def check_units(units: Sequence[str | None]) -> str | None:
    """Leads (in LEADS order) whose physical unit is not a voltage cardiofed can convert to millivolts."""
    for lead, unit in zip(LEADS, units, strict=True):
        if millivolts_per_unit(unit) is None:
            return f"unknown units {unit!r} in lead {lead}"
    return None


def check_duration(n_samples: int, sample_rate: float, min_duration_s: float) -> str | None:
    """A record shorter than the minimum duration."""
    duration_s = n_samples / sample_rate
    if duration_s < min_duration_s:
        return f"too short: {duration_s:.1f} s (minimum {min_duration_s:.1f} s)"
    return None


def check_finite(signal_mv: np.ndarray) -> str | None:
    """NaN or infinite samples (wfdb decodes the format's invalid-sample code as NaN); (12, n) input."""
    bad = [lead for lead, row in zip(LEADS, signal_mv, strict=True) if not np.isfinite(row).all()]
    if bad:
        return f"NaN/Inf samples in {_plural('lead', bad)} {', '.join(bad)}"
    return None


def check_flat(signal_mv: np.ndarray) -> str | None:
    """Leads with (almost) no amplitude over the whole record: a detached or dead electrode."""
    peak_to_peak = signal_mv.max(axis=1) - signal_mv.min(axis=1)
    flat = [lead for lead, ptp in zip(LEADS, peak_to_peak, strict=True) if ptp < FLAT_PEAK_TO_PEAK_MV]
    if flat:
        return f"flat {_plural('lead', flat)}: {', '.join(flat)}"
    return None


def adc_limits(fmt: str, adc_res: int | None, adc_zero: int | None) -> tuple[int, int]:
    """Lowest and highest digital values the ADC of one signal can produce."""
    bits = adc_res or _FORMAT_BITS.get(fmt, 16)
    half_range = 2 ** (bits - 1)
    zero = adc_zero or 0
    # The lowest code of a full-width format is WFDB's invalid-sample marker (decoded as NaN), so a
    # clipping ADC writes the code just above it.
    return zero - half_range + 1, zero + half_range - 1


def check_saturation(
    digital: np.ndarray, limits: Sequence[tuple[int, int]], sample_rate: float
) -> str | None:
    """Leads stuck at their ADC minimum or maximum for SATURATION_MIN_RUN_S or longer; (12, n) digital."""
    min_run = max(2, round(SATURATION_MIN_RUN_S * sample_rate))
    saturated = []
    for lead, row, (low, high) in zip(LEADS, digital, limits, strict=True):
        at_limit = (row <= low) | (row >= high)
        if _longest_run(at_limit) >= min_run:
            saturated.append(lead)
    if saturated:
        return f"saturated {_plural('lead', saturated)}: {', '.join(saturated)}"
    return None


def check_image_size(shape: tuple[int, ...], expected: tuple[int, int]) -> str | None:
    """An ECG image whose (height, width) in pixels is not the standard page size."""
    if tuple(shape[:2]) != expected:
        return (
            f"wrong image size: {shape[1]}x{shape[0]} pixels "
            f"(expected {expected[1]}x{expected[0]}, width x height)"
        )
    return None


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())
