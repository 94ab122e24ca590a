"""Resampling, lead names, cropping/padding and band-pass on synthetic signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from shared.data import LEADS
from shared.data.preprocess import (
    PreprocessConfig,
    bandpass_filter,
    canonical_lead,
    crop_or_pad,
    match_leads,
    preprocess_signal,
    resample,
)


def _sine(frequency_hz, rate, seconds, amplitude=1.0):
    return amplitude * np.sin(2 * np.pi * frequency_hz * np.arange(round(rate * seconds)) / rate)


def _dominant_frequency(signal, rate):
    spectrum = np.abs(np.fft.rfft(signal))
    return np.fft.rfftfreq(signal.size, 1 / rate)[spectrum.argmax()]


@pytest.mark.parametrize(("source_rate", "target_rate"), [(500, 100), (257, 100), (100, 250), (500, 75)])
def test_resampling_keeps_frequency_and_amplitude(source_rate, target_rate):
    signal = _sine(7.0, source_rate, 10, amplitude=1.5)[None, :]

    resampled = resample(signal, source_rate, target_rate)[0]

    assert resampled.size == 10 * target_rate
    assert _dominant_frequency(resampled, target_rate) == pytest.approx(7.0, abs=0.1)
    inner = resampled[target_rate:-target_rate]  # away from the filter's edge transients
    assert np.abs(inner).max() == pytest.approx(1.5, rel=0.02)
    expected = _sine(7.0, target_rate, 10, amplitude=1.5)[target_rate:-target_rate]
    np.testing.assert_allclose(inner, expected, atol=0.03)


def test_lead_names_in_any_case_map_to_the_standard_spelling():
    assert [canonical_lead(name) for name in ("i", "AVR", "avl", "aVF", " v1 ", "V6")] == [
        "I",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V6",
    ]
    assert canonical_lead("MLII") is None


def test_match_leads_finds_each_standard_lead_and_reports_the_rest():
    names = ["V6", "v5", "V4", "V3", "V2", "V1", "AVF", "AVL", "AVR", "III", "II", "I", "RESP"]

    match = match_leads(names)

    assert [names[p] for p in match.positions] == [
        "I",
        "II",
        "III",
        "AVR",
        "AVL",
        "AVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "v5",
        "V6",
    ]
    assert (match.missing, match.duplicated, match.extra) == ((), (), ("RESP",))
    broken = match_leads([*LEADS[:10], "I"])
    assert (broken.missing, broken.duplicated) == (("V5", "V6"), ("I",))


def test_crop_keeps_the_start_and_pad_appends_zeros():
    signal = np.arange(10.0)[None, :]

    assert crop_or_pad(signal, 4).tolist() == [[0, 1, 2, 3]]
    assert crop_or_pad(signal, 12).tolist() == [[*range(10), 0, 0]]


def test_bandpass_removes_baseline_wander_and_keeps_the_band():
    rate = 250
    wander, ecg_band = _sine(0.1, rate, 20, amplitude=2.0), _sine(10.0, rate, 20)

    filtered = bandpass_filter((wander + ecg_band)[None, :], rate, 0.5, 40.0)[0]

    inner = slice(2 * rate, -2 * rate)
    np.testing.assert_allclose(filtered[inner], ecg_band[inner], atol=0.05)


def test_preprocess_signal_gives_fixed_shape_float32():
    config = PreprocessConfig(sample_rate=100, duration_s=10.0, min_duration_s=5.0, bandpass=(0.5, 40.0))
    short = np.tile(_sine(5.0, 500, 6.0), (12, 1))

    out = preprocess_signal(short, 500.0, config)

    assert out.shape == (12, 1000) and out.dtype == np.float32
    assert not out[:, 600:].any()  # 6 s of signal, then zeros


def test_config_rejects_a_band_above_nyquist():
    with pytest.raises(ValueError, match="bandpass"):
        PreprocessConfig(sample_rate=100, duration_s=10.0, min_duration_s=5.0, bandpass=(0.5, 60.0))
