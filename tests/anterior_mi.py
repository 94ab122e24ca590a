"""Test support: a hospital whose MI signal lies only in V1-V4, and a small model trained on it.

Normal synthetic ECGs (dipole model) get, for MI records, ST elevation added after every R peak in
V1-V4 and nowhere else, so a model that learns the task can only have learned it from those leads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from shared.data import LEADS, ECGDataset, RecordInfo
from shared.data.ecg_waveforms import Acquisition, Condition, sample_heart, sample_rhythm, synthesize_ecg
from shared.losses import multitask_loss
from shared.models import create_model

ANTERIOR_LEADS = ("V1", "V2", "V3", "V4")
SAMPLE_RATE = 100
DURATION_S = 5.0


def anterior_mi_hospital(hospital: str, records: int, seed: int) -> ECGDataset:
    """`records` ECGs, half MI with 0.3 mV ST elevation (60-300 ms after each R peak) in V1-V4 only."""
    rng = np.random.default_rng(seed)
    acquisition = Acquisition(SAMPLE_RATE, gain=1.0, noise_mv=0.02, wander_mv=0.05, mains_hz=50, mains_mv=0.0)
    anterior = [LEADS.index(lead) for lead in ANTERIOR_LEADS]
    signals, infos, labels = [], [], []
    for index in range(records):
        is_mi = index % 2 == 0
        leads, r_peaks = synthesize_ecg(
            sample_heart(Condition("normal"), rng), sample_rhythm(rng), acquisition, DURATION_S, rng
        )
        if is_mi:
            t = np.arange(leads.shape[1]) / SAMPLE_RATE
            after_r = t[None, :] - r_peaks[:, None]
            st_segment = ((after_r > 0.06) & (after_r < 0.30)).any(axis=0)
            leads[anterior] += 0.3 * st_segment
        signals.append(leads.astype(np.float32))
        labels.append([float(is_mi)])
        infos.append(
            RecordInfo(
                f"{hospital}/{index:04d}", f"{hospital}-{index}", hospital, 60.0, "M", (), float(SAMPLE_RATE)
            )
        )
    return ECGDataset(
        layout="plain",
        root=Path(hospital),
        sample_rate=SAMPLE_RATE,
        duration_s=DURATION_S,
        signals=np.stack(signals),
        records=infos,
        labels={"mi": np.array(labels, dtype=np.float32)},
        label_names={"mi": ("MI",)},
        clinical=np.tile(np.array([[60.0, 1.0]], dtype=np.float32), (records, 1)),
    )


def train_small_model(data: ECGDataset, epochs: int = 8, seed: int = 0) -> torch.nn.Module:
    """A small resnet1d trained on `data` for task mi (full-batch Adam; a few seconds on a CPU)."""
    torch.manual_seed(seed)
    model = create_model("resnet1d", tasks={"mi": 1}, clinical_features=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    signals = torch.as_tensor(data.signals)
    clinical = torch.as_tensor(data.clinical)
    targets = {"mi": torch.as_tensor(data.labels["mi"])}
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(data)).split(32):
            optimizer.zero_grad()
            batch_targets = {"mi": targets["mi"][batch]}
            multitask_loss(model(signals[batch], clinical[batch]), batch_targets, loss="bce").backward()
            optimizer.step()
    return model.eval()
