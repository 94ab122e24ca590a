"""Read one WFDB record from disk, run the quality checks, and preprocess it.

wfdb does the reading (headers, every signal format, `.mat` Challenge files); this module decides whether
the record is usable and, when it is not, says why in the words of `shared.data.quality`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.data import quality
from shared.data.preprocess import PreprocessConfig, match_leads, millivolts_per_unit, preprocess_signal

# wfdb (and the pandas it imports, 0.3 s) is imported where a record is read: a hospital's app process that
# finds its data in the preprocessing cache never parses a record, and a deployed hospital starts one such
# process per message.


class UnusableRecord(Exception):
    """A record failed a quality check; `reason` is the user-facing explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReadSignal:
    """A usable record's preprocessed signal and what was learned while reading it."""

    signal: np.ndarray  # (12, config.n_samples) float32 millivolts, LEADS order
    source_rate: float  # sampling rate of the file on disk, Hz
    flags: tuple[str, ...]


def read_record(root: Path, record: str, config: PreprocessConfig) -> ReadSignal:
    """Read `root/record` (.hea and signal files); raises UnusableRecord with the reason it is skipped."""
    header_path = root / f"{record}.hea"
    if not header_path.is_file():
        raise UnusableRecord(quality.unreadable(f"{record}.hea", "file not found"))
    _raise_if(quality.check_sampling_rate(header_path))
    import wfdb

    try:
        raw = wfdb.rdrecord(str(root / record), physical=False)
    except Exception as error:  # wfdb raises many types; every one means the same to the user
        raise UnusableRecord(_explain_read_failure(root, record, error)) from None

    leads = match_leads(raw.sig_name or [])
    _raise_if(quality.check_leads(leads))
    columns = list(leads.positions)
    units = [raw.units[column] for column in columns]
    _raise_if(quality.check_units(units))
    n_samples = 0 if raw.d_signal is None else raw.d_signal.shape[0]
    source_rate = float(raw.fs)
    _raise_if(quality.check_duration(n_samples, source_rate, config.min_duration_s))

    signal_mv = raw.dac(return_res=64)[:, columns].T
    signal_mv *= np.array([millivolts_per_unit(unit) for unit in units])[:, None]
    _raise_if(quality.check_finite(signal_mv))
    _raise_if(quality.check_flat(signal_mv))
    limits = [quality.adc_limits(raw.fmt[c], raw.adc_res[c], raw.adc_zero[c]) for c in columns]
    _raise_if(quality.check_saturation(raw.d_signal[:, columns].T, limits, source_rate))

    flags = (quality.EXTRA_LEADS_IGNORED,) if leads.extra else ()
    return ReadSignal(preprocess_signal(signal_mv, source_rate, config), source_rate, flags)


def _raise_if(reason: str | None) -> None:
    if reason is not None:
        raise UnusableRecord(reason)


def _explain_read_failure(root: Path, record: str, error: Exception) -> str:
    """Turn wfdb's generic failure ("Samples were not loaded correctly") into the actual problem."""
    import wfdb

    try:
        header = wfdb.rdheader(str(root / record))
    except Exception as header_error:
        return quality.unreadable(f"{record}.hea", header_error)
    record_dir = (root / record).parent
    truncation = quality.check_truncation(
        record_dir, header.file_name, header.fmt, header.byte_offset or [None] * header.n_sig, header.sig_len
    )
    if truncation is not None:
        return truncation
    signal_files = ", ".join(dict.fromkeys(header.file_name or []))
    return quality.unreadable(signal_files or f"{record}.hea", error)
