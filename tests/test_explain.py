"""`cardiofed explain` on a real PTB-XL record: attribution shape, faithfulness, the PNG, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from anterior_mi import DURATION_S, anterior_mi_hospital, train_small_model

from client import commands
from client.explain import explain_record
from shared.config import RunConfig, default_run_config
from shared.data import LEADS, load_dataset
from shared.model_file import load_model_file, save_model_file

RECORD = "00001_lr"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train_small_model(anterior_mi_hospital("train", records=60, seed=4), epochs=6)
    config = RunConfig.from_flower({**default_run_config(), "duration-s": DURATION_S})
    return save_model_file(
        tmp_path_factory.mktemp("models") / "final.pt", model.state_dict(), config, ["age", "sex_male"]
    )


def _logit(checkpoint: Path, signal: np.ndarray, clinical: np.ndarray) -> float:
    model = load_model_file(checkpoint).model
    with torch.no_grad():
        return float(model(torch.as_tensor(signal)[None], torch.as_tensor(clinical)[None])["mi"][0, 0])


def test_attribution_is_per_lead_and_sample_and_its_top_lead_matters_most(
    ptbxl500: Path, checkpoint: Path, tmp_path: Path
) -> None:
    explanation = explain_record(ptbxl500, RECORD, checkpoint, tmp_path / "ecg.png")
    samples = round(100 * DURATION_S)
    assert explanation.attribution.shape == (len(LEADS), samples)
    assert (tmp_path / "ecg.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    data = load_dataset(ptbxl500, hospital_by="none", duration_s=DURATION_S, progress=False)
    index = next(i for i, r in enumerate(data.records) if r.record == explanation.record)
    age_and_sex = [data.clinical_names.index(name) for name in ("age", "sex_male")]  # the model's features
    signal, clinical = np.array(data.signals[index]), np.array(data.clinical[index, age_and_sex])
    mass = explanation.lead_mass()
    ranked = sorted(mass, key=mass.__getitem__)
    baseline = _logit(checkpoint, signal, clinical)

    def occlusion_effect(lead: str) -> float:
        occluded = signal.copy()
        occluded[LEADS.index(lead)] = 0.0
        return abs(baseline - _logit(checkpoint, occluded, clinical))

    assert occlusion_effect(ranked[-1]) > occlusion_effect(ranked[0])


@pytest.mark.parametrize("method", ["grad-cam", "occlusion"])
def test_every_method_gives_one_value_per_lead_and_sample(
    ptbxl500: Path, checkpoint: Path, tmp_path: Path, method: str
) -> None:
    explanation = explain_record(ptbxl500, RECORD, checkpoint, tmp_path / "ecg.png", method=method)
    assert explanation.attribution.shape == (len(LEADS), round(100 * DURATION_S))
    assert np.isfinite(explanation.attribution).all()


def test_an_unknown_record_is_a_clear_error_from_the_command(
    ptbxl500: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(
        [
            "explain",
            "--data",
            str(ptbxl500),
            "--record",
            "no-such-record",
            "--model-checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / "x.png"),
        ]
    )
    assert args.handler(args) == 1
    assert "no usable record 'no-such-record'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
