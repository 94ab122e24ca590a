"""`median_beat`: a small network on each lead's median beat, the model that still learns under DP-SGD.

DP-SGD adds noise of the same size to every trainable parameter, so what a hospital can learn at a given
epsilon falls with the parameter count and rises with how much each record's gradient agrees with the
others'. The 1-D CNNs spend their first epochs learning to find beats and to ignore heart rate, beat position
and noise; under clipping and noise at epsilon 8 they learn nothing beyond age and sex (resnet1d's DP variant,
LOHO on 3 synthetic hospitals of 3000 records: held-out AUROC 0.64-0.69 in bench/dp_loho.py; age and sex alone
give 0.664). The DP literature's
answer is better features: "Differentially Private Learning Needs Better Features (or Much More Data)"
(Tramer and Boneh, ICLR 2021) shows fixed features plus a small trainable model beating end-to-end CNNs
under DP. The ECG's own fixed feature is the median beat that electrocardiographs measure from: every
record's beats found, aligned and averaged, so ST level, Q waves and T waves sit at the same place for every
record.

The beat extraction has no parameters and runs inside `forward` on whole batches, on any device and at any
sampling rate. It is written here in torch rather than taken from wfdb's QRS detectors because those run
record by record on the CPU in Python, and the model must accept the raw signals every other model accepts.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from shared.models.heads import LEAD_COUNT, ECGBackbone

#: The beat window around each detected QRS, in seconds before and after it (P wave to end of T).
BEAT_BEFORE_S = 0.25
BEAT_AFTER_S = 0.45
#: The first part of the window, before the P wave's peak, is the beat's baseline (the PR level).
BASELINE_S = 0.08
#: QRS complexes closer than this are one complex (a refractory period; 200 beats per minute).
MIN_BEAT_SPACING_S = 0.3
#: A QRS is where the smoothed slope energy peaks above this share of the record's 99th percentile.
QRS_THRESHOLD = 0.35
#: Slope energy is smoothed over this long, so the several slopes of one QRS make one peak.
SMOOTHING_S = 0.05
#: Median beats are in millivolts (ST changes of 0.1-0.3 mV); scaled so the head's inputs are of order 1.
INPUT_SCALE = 10.0


def beat_window(sample_rate: int) -> tuple[int, int]:
    """Samples before and after the QRS in a beat window at `sample_rate` Hz."""
    return round(BEAT_BEFORE_S * sample_rate), round(BEAT_AFTER_S * sample_rate)


def detect_qrs(signals: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """QRS positions of `signals` `(batch, leads, samples)`: `(positions, found)`, both `(batch, beats)`.

    A QRS is a local maximum of the leads' summed absolute slope (smoothed) that is the largest within
    `MIN_BEAT_SPACING_S` (the first, where several tie) and above `QRS_THRESHOLD` of the record's 99th
    percentile; the bound makes the detector adapt to each recorder's gain. Positions come strongest first;
    `found` is False for padding slots (records differ in how many beats they have) and for a flat record.
    """
    slope = (signals[:, :, 1:] - signals[:, :, :-1]).abs().sum(dim=1, keepdim=True)
    width = max(1, round(SMOOTHING_S * sample_rate))
    energy = F.avg_pool1d(slope, width, stride=1, padding=width // 2, count_include_pad=False)[:, 0]
    energy = energy[:, : slope.shape[-1]]
    radius = max(1, round(MIN_BEAT_SPACING_S * sample_rate / 2))
    local_max = F.max_pool1d(energy[:, None], 2 * radius + 1, stride=1, padding=radius)[:, 0]
    threshold = QRS_THRESHOLD * torch.quantile(energy, 0.99, dim=1, keepdim=True)
    candidate = (energy == local_max) & (energy > threshold)
    # A flat top gives several equal maxima within one complex: keep only the first of them.
    before = F.pad(candidate.float()[:, None], (radius, 0))[:, :, :-1]  # at t: candidates t-radius .. t-1
    is_peak = candidate & (F.max_pool1d(before, radius, stride=1)[:, 0] == 0)
    most_beats = min(energy.shape[1], math.ceil(energy.shape[1] / (radius + 1)) + 1)
    score, positions = torch.where(is_peak, energy, torch.zeros_like(energy)).topk(most_beats, dim=1)
    return positions, score > 0


def median_beats(signals: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Each lead's median beat `(batch, leads, window)`, relative to its PR baseline, in input units.

    Beats whose window would run past the record's ends are left out; a record with no whole beat (flat,
    or shorter than one window) gives zeros, which the network reads as "no measurable beat".
    """
    before, after = beat_window(sample_rate)
    if signals.shape[0] == 0:  # Poisson sampling draws empty batches; torch.quantile cannot reduce them
        return signals.new_zeros(0, signals.shape[1], before + after)
    positions, found = detect_qrs(signals, sample_rate)
    found = found & (positions >= before) & (positions + after <= signals.shape[-1])
    offsets = torch.arange(-before, after, device=signals.device)
    window = (positions[:, :, None] + offsets).clamp(0, signals.shape[-1] - 1)  # (batch, beats, window)
    batch, leads, _ = signals.shape
    index = window.flatten(1)[:, None, :].expand(batch, leads, -1)
    beats = signals.gather(2, index).view(batch, leads, *window.shape[1:])
    nan = torch.full_like(beats, float("nan"))
    beats = torch.where(found[:, None, :, None], beats, nan)
    median = beats.nanmedian(dim=2).values.nan_to_num(0.0)  # NaN only where a record has no beat
    baseline = median[:, :, : max(1, round(BASELINE_S * sample_rate))].mean(dim=2, keepdim=True)
    return median - baseline


class MedianBeatNet(ECGBackbone):
    """Median beats `(batch, 12, points)` flattened into one small hidden layer (or none, `hidden=0`)."""

    def __init__(
        self,
        *,
        dp: bool = False,  # no layer mixes the samples of a batch: both variants are the same
        sample_rate: int = 100,
        points: int = 35,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        before, after = beat_window(sample_rate)
        if not 1 <= points <= before + after:
            raise ValueError(
                f"median_beat: points must lie in [1, {before + after}] at {sample_rate} Hz, got {points}"
            )
        if hidden < 0:
            raise ValueError(f"median_beat: hidden must be >= 0 (0: no hidden layer), got {hidden}")
        self.sample_rate = sample_rate
        self.points = points
        flat = LEAD_COUNT * points
        self.hidden = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU()) if hidden else nn.Identity()
        self.out_features = hidden or flat

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        # Averaged down to `points` per beat whatever the rate: the model is the same at 100 and 500 Hz.
        beats = F.adaptive_avg_pool1d(median_beats(signals, self.sample_rate), self.points)
        return self.hidden(INPUT_SCALE * beats.flatten(1))
