"""Synthetic hospitals: real WFDB files that load back exactly as generated, look like ECGs, show MI where
it should be, and make a task that is learnable but not trivial."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import scipy.io
import wfdb
from scipy.signal import find_peaks
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shared.commands.cli import main
from shared.data import LEADS, ECGDataset, census, load_dataset
from shared.data.ecg_waveforms import (
    TERRITORIES,
    Acquisition,
    Condition,
    sample_heart,
    sample_rhythm,
    synthesize_ecg,
)
from shared.data.synthetic import MANIFEST_NAME, SynthSummary, generate_hospitals, read_manifest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the non-interactive backend

LEAD_INDEX = {lead: index for index, lead in enumerate(LEADS)}


@pytest.fixture(scope="module")
def ptbxl_hospitals(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """The demo's default: 4 hospitals x 100 ECGs at 500, 250, 1000 and 360 Hz."""
    return generate_hospitals(tmp_path_factory.mktemp("synth") / "ptbxl", seed=0)


@pytest.fixture(scope="module")
def ptbxl_dataset(ptbxl_hospitals: SynthSummary) -> ECGDataset:
    return load_dataset(ptbxl_hospitals.root, tasks=("mi",), sample_rate=100, progress=False)


@pytest.fixture(scope="module")
def challenge_hospitals(tmp_path_factory: pytest.TempPathFactory) -> SynthSummary:
    """Written the way a user would, through `cardiofed synth`, with chosen prevalences."""
    out = tmp_path_factory.mktemp("synth") / "challenge"
    argv = ["synth", str(out), "--hospitals", "3", "--records-per-hospital", "40", "--layout", "challenge"]
    assert main([*argv, "--seed", "1", "--mi-prevalence", "0.1", "0.25", "0.5"]) == 0
    return read_manifest(out)


# ---- helpers: a plain QRS detector and hand-made ST-segment features --------------------------------


def r_peaks(ecg: np.ndarray, sample_rate: float) -> np.ndarray:
    """Sample indices of QRS complexes: peaks of the summed absolute slope of all 12 leads."""
    slope = np.abs(np.diff(ecg, axis=1)).sum(axis=0)
    peaks, _ = find_peaks(slope, distance=int(0.35 * sample_rate), height=0.4 * np.percentile(slope, 99))
    return peaks


def beat_measurements(ecg: np.ndarray, sample_rate: float) -> np.ndarray:
    """(beats, 4, 12): ST level near J+60 ms, Q depth, R height and mean T level, against the PR baseline."""

    def at(seconds: float) -> int:
        return round(seconds * sample_rate)

    measurements = []
    for peak in r_peaks(ecg, sample_rate):
        if peak < at(0.1) or peak + at(0.35) > ecg.shape[1]:
            continue
        baseline = ecg[:, peak - at(0.08) : peak - at(0.055)].mean(axis=1)  # PR segment
        st = ecg[:, peak + at(0.1) : peak + at(0.12)].mean(axis=1)
        q = ecg[:, peak - at(0.05) : peak].min(axis=1)
        r = ecg[:, peak - at(0.02) : peak + at(0.03)].max(axis=1)
        t = ecg[:, peak + at(0.18) : peak + at(0.32)].mean(axis=1)
        measurements.append(np.stack([st, q, r, t]) - baseline[None, :])
    return np.array(measurements)


def st_features(signals: np.ndarray, sample_rate: float) -> np.ndarray:
    """(records, 48): per-lead median over beats of the four measurements."""
    return np.array([np.median(beat_measurements(ecg, sample_rate), axis=0).ravel() for ecg in signals])


def file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# ---- loading back: what the manifest says is what the data layer finds -------------------------------


def test_ptbxl_hospitals_load_back_as_the_manifest_says(
    ptbxl_hospitals: SynthSummary, ptbxl_dataset: ECGDataset
) -> None:
    summary = census(ptbxl_dataset)
    assert summary["layout"] == "ptbxl"
    assert summary["records"] == summary["usable"] == 400 and summary["skipped"] == []
    expected_rates = {"0": 500, "1": 250, "2": 1000, "3": 360}
    assert set(summary["hospitals"]) == set(expected_rates)
    for hospital, found in summary["hospitals"].items():
        made = ptbxl_hospitals.hospital(hospital)
        assert found["records"] == made.records == 100
        assert found["patients"] == made.patients < made.records  # some patients have two ECGs
        assert found["positives"]["mi"] == made.mi_positives
        assert found["sampling_rates"] == {str(expected_rates[hospital]): 100} == {str(made.sample_rate): 100}
    prevalences = sorted(h.mi_prevalence for h in ptbxl_hospitals.hospitals)
    assert prevalences == pytest.approx([0.10, 0.18, 0.27, 0.35], abs=0.005)  # spread over 10-35%
    assert summary["flags"]["missing age"] == sum(h.missing_ages for h in ptbxl_hospitals.hospitals) > 0
    female = sum(r.sex == "F" for r in ptbxl_dataset.records)
    assert female == sum(h.female_records for h in ptbxl_hospitals.hospitals)


@pytest.mark.parametrize("fixture", ["ptbxl_hospitals", "challenge_hospitals"])
def test_data_check_json_matches_the_manifest(
    fixture: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    made: SynthSummary = request.getfixturevalue(fixture)
    capsys.readouterr()
    assert main(["data", "check", str(made.root), "--task", "mi", "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["layout"] == made.layout and checked["usable"] == made.records
    found = {h: (v["records"], v["patients"], v["positives"]["mi"]) for h, v in checked["hospitals"].items()}
    assert found == {h.hospital: (h.records, h.patients, h.mi_positives) for h in made.hospitals}


def test_synth_command_honours_prevalences_and_challenge_sources(challenge_hospitals: SynthSummary) -> None:
    hospitals = challenge_hospitals.hospitals
    assert [(h.hospital, h.folder) for h in hospitals] == [
        ("A", "cpsc_2018"),
        ("Q", "cpsc_2018_extra"),
        ("I", "st_petersburg_incart"),
    ]
    assert [h.mi_positives for h in hospitals] == [4, 10, 20]  # round(prevalence x 40)
    assert [h.patients for h in hospitals] == [40, 40, 40]  # Challenge headers carry no patient ids
    assert [h.mains_hz for h in hospitals] == [50, 60, 50]
    on_disk = json.loads((challenge_hospitals.root / MANIFEST_NAME).read_text())
    assert on_disk["records"] == 120 and on_disk["mi_positives"] == 34


def test_challenge_mat_files_read_back_through_wfdb(challenge_hospitals: SynthSummary) -> None:
    for hospital in challenge_hospitals.hospitals:
        folder = challenge_hospitals.root / hospital.folder
        name = f"{hospital.hospital}00001"
        record = wfdb.rdrecord(str(folder / name))
        stored = scipy.io.loadmat(folder / f"{name}.mat")["val"]  # how the Challenge's own code reads it
        assert stored.dtype == np.int16 and stored.shape == (12, 10 * hospital.sample_rate)
        np.testing.assert_allclose(record.p_signal, stored.T / 1000.0, rtol=0, atol=1e-12)
        assert record.fs == hospital.sample_rate and tuple(record.sig_name) == LEADS
        assert [c.split(":")[0] for c in record.comments] == ["Age", "Sex", "Dx", "Rx", "Hx", "Sx"]
        header = (folder / f"{name}.hea").read_text().splitlines()
        assert header[1].startswith(f"{name}.mat 16+24 1000/mV 16 0 ") and header[-4].startswith("#Dx: ")


def test_ptbxl_headers_and_signals_are_what_wfdb_writes(
    ptbxl_hospitals: SynthSummary, tmp_path: Path
) -> None:
    database = pd.read_csv(ptbxl_hospitals.root / "ptbxl_database.csv", index_col="ecg_id")
    for hospital in ptbxl_hospitals.hospitals:
        relative = database.loc[database.site == float(hospital.hospital), "filename_hr"].iloc[0]
        written = wfdb.rdrecord(str(ptbxl_hospitals.root / relative), physical=False)
        name = Path(relative).name
        wfdb.wrsamp(
            name,
            fs=written.fs,
            units=["mV"] * 12,
            sig_name=written.sig_name,
            d_signal=written.d_signal,
            fmt=["16"] * 12,
            adc_gain=[1000.0] * 12,
            baseline=[0] * 12,
            write_dir=str(tmp_path),
        )
        for suffix in (".hea", ".dat"):
            ours = (ptbxl_hospitals.root / relative).with_suffix(suffix).read_bytes()
            assert ours == (tmp_path / f"{name}{suffix}").read_bytes(), f"{relative}{suffix}"


def test_exact_mi_counts_at_extreme_prevalences_with_repeat_patients(tmp_path: Path) -> None:
    """The fast path other tests use (100 Hz, short records), with prevalences that leave no slack."""
    made = generate_hospitals(
        tmp_path,
        hospitals=3,
        records_per_hospital=21,
        mi_prevalence=[0.0, 0.5, 1.0],
        sample_rate=100,
        duration_s=2.0,
        seed=3,
    )
    assert [h.mi_positives for h in made.hospitals] == [0, 10, 21]  # round(10.5) is 10
    assert all(h.patients < h.records for h in made.hospitals)
    loaded = census(load_dataset(tmp_path, duration_s=2.0, cache=False, progress=False))
    found = {h: (v["records"], v["patients"], v["positives"]["mi"]) for h, v in loaded["hospitals"].items()}
    assert found == {h.hospital: (h.records, h.patients, h.mi_positives) for h in made.hospitals}


# ---- reproducibility --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["ptbxl", "challenge"])
def test_same_seed_same_bytes_other_seed_other_signals(layout: str, tmp_path: Path) -> None:
    def generate(name: str, seed: int) -> dict[str, str]:
        generate_hospitals(tmp_path / name, hospitals=2, records_per_hospital=8, layout=layout, seed=seed)
        return file_hashes(tmp_path / name)

    first, again, other = generate("first", 7), generate("again", 7), generate("other", 8)
    assert first == again
    signals = [path for path in first if path.endswith((".dat", ".mat"))]
    assert len(signals) == 16 and all(first[path] != other.get(path) for path in signals)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"layout": "edf"}, "unknown layout 'edf'"),
        ({"hospitals": 2, "mi_prevalence": [0.2]}, "1 MI prevalences given for 2 hospitals"),
        ({"hospitals": 1, "mi_prevalence": [1.5]}, "must lie in [0, 1]"),
        ({"records_per_hospital": 0}, "at least 1 hospital and 1 record"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(arguments: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        generate_hospitals(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        generate_hospitals(tmp_path, hospitals=1, records_per_hospital=1)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# ---- the signals look like ECGs ---------------------------------------------------------------------


def test_limb_leads_obey_einthoven_and_goldberger_in_the_files(ptbxl_hospitals: SynthSummary) -> None:
    for path in sorted(ptbxl_hospitals.root.glob("records500/*/*.hea"))[::20]:
        counts = wfdb.rdrecord(str(path.with_suffix("")), physical=False).d_signal.T.astype(float)
        lead_i, lead_ii = counts[LEAD_INDEX["I"]], counts[LEAD_INDEX["II"]]
        # Each lead is rounded to 1 µV on its own, so identities hold to within a count or so.
        assert np.abs(counts[LEAD_INDEX["III"]] - (lead_ii - lead_i)).max() <= 1.5
        assert np.abs(counts[LEAD_INDEX["aVR"]] + (lead_i + lead_ii) / 2).max() <= 1.5
        assert np.abs(counts[LEAD_INDEX["aVL"]] - (lead_i - lead_ii / 2)).max() <= 1.5
        assert np.abs(counts[LEAD_INDEX["aVF"]] - (lead_ii - lead_i / 2)).max() <= 1.5


def test_heart_rate_in_range_and_qrs_dominates(ptbxl_dataset: ECGDataset) -> None:
    for ecg, record in zip(ptbxl_dataset.signals, ptbxl_dataset.records, strict=True):
        peaks = r_peaks(ecg, ptbxl_dataset.sample_rate)
        heart_rate = 60.0 * ptbxl_dataset.sample_rate / np.median(np.diff(peaks))
        assert 45 <= heart_rate <= 115, f"{record.record}: {heart_rate:.0f} bpm"
        qrs_size = [np.ptp(ecg[:, p - 6 : p + 6], axis=1).sum() for p in peaks if 6 <= p < ecg.shape[1] - 45]
        t_size = [np.ptp(ecg[:, p + 15 : p + 45], axis=1).sum() for p in peaks if 6 <= p < ecg.shape[1] - 45]
        assert np.median(qrs_size) > np.median(t_size), record.record


QUIET_RECORDER = Acquisition(
    sample_rate=500, gain=1.0, noise_mv=0.0, wander_mv=0.0, mains_hz=50, mains_mv=0.0
)


def mean_measurements(condition: Condition, patients: int = 20) -> np.ndarray:
    """(4, 12) mean over noiseless patients of the per-lead ST, Q, R and T measurements."""
    per_patient = []
    for seed in range(patients):
        rng = np.random.default_rng(seed)
        heart, rhythm = sample_heart(condition, rng), sample_rhythm(rng)
        ecg, _ = synthesize_ecg(heart, rhythm, QUIET_RECORDER, 10.0, rng)
        per_patient.append(np.median(beat_measurements(ecg, QUIET_RECORDER.sample_rate), axis=0))
    return np.mean(per_patient, axis=0)


# Leads facing each territory (where ST rises) and, where clinically expected, the reciprocal leads.
FACING = {
    "anteroseptal": {"V1", "V2", "V3", "V4"},
    "anterior": {"V2", "V3", "V4", "V5"},
    "anterolateral": {"I", "aVL", "V3", "V4", "V5", "V6"},
    "lateral": {"I", "aVL", "V5", "V6"},
    "inferior": {"II", "III", "aVF"},
    "inferolateral": {"II", "III", "aVF", "V5", "V6"},
}
RECIPROCAL = {"inferior": {"I", "aVL"}, "lateral": {"III", "aVF"}, "anterolateral": {"III", "aVF"}}


@pytest.mark.parametrize("territory", sorted(TERRITORIES))
def test_acute_mi_raises_st_in_the_leads_facing_its_territory(territory: str) -> None:
    st = mean_measurements(Condition("mi", territory, "acute"))[0]
    highest = {LEADS[i] for i in np.argsort(st)[-3:]}
    assert highest <= FACING[territory] and st[np.argsort(st)[-3:]].min() > 0.1
    reciprocal = st[[LEAD_INDEX[lead] for lead in RECIPROCAL.get(territory, ())]]
    assert np.all(reciprocal < 0) and (reciprocal.size == 0 or reciprocal.min() < -0.05)


def test_evolved_mi_shows_q_waves_and_inverted_t_where_the_infarct_is() -> None:
    st, q, _, t = mean_measurements(Condition("mi", "inferior", "evolved"))
    _, healthy_q, _, healthy_t = mean_measurements(Condition("normal"))
    inferior = [LEAD_INDEX[lead] for lead in ("II", "III", "aVF")]
    assert np.all(q[inferior] < healthy_q[inferior] - 0.1)  # pathological Q
    assert t[LEAD_INDEX["III"]] < 0 < healthy_t[LEAD_INDEX["III"]]  # T inversion
    assert np.all(np.abs(st) < 0.15)  # the injury current has mostly resolved


# ---- the task: learnable, not trivial ---------------------------------------------------------------


def test_st_features_separate_mi_well_but_not_perfectly(ptbxl_dataset: ECGDataset) -> None:
    """Logistic regression on hand-made ST features, scored on held-out patients of 5 patient-level folds.

    Every record is scored once by a model that never saw its patient; pooling the 5 folds keeps the
    estimate stable (a single 30% split of 400 records swings by +-0.07 between generator seeds).
    """
    features = st_features(ptbxl_dataset.signals, ptbxl_dataset.sample_rate)
    is_mi = ptbxl_dataset.labels["mi"][:, 0]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    folds = GroupKFold(n_splits=5)
    scores = cross_val_predict(
        model, features, is_mi, groups=ptbxl_dataset.patient_ids, cv=folds, method="predict_proba"
    )[:, 1]
    auroc = roc_auc_score(is_mi, scores)
    assert 0.75 < auroc < 0.99, f"held-out AUROC {auroc:.3f}"


def test_an_inferior_stemi_record_looks_like_one(ptbxl_hospitals: SynthSummary, tmp_path: Path) -> None:
    """Read one acute inferior MI back from disk, check its ST pattern, and draw it for human review."""
    database = pd.read_csv(ptbxl_hospitals.root / "ptbxl_database.csv", index_col="ecg_id")
    stemi = database[database.report.str.contains("inferior myocardial infarction (acute)", regex=False)]
    assert len(stemi) > 0
    record = wfdb.rdrecord(str(ptbxl_hospitals.root / stemi.filename_hr.iloc[0]))
    ecg = record.p_signal.T
    st = np.median(beat_measurements(ecg, record.fs), axis=0)[0]
    inferior, high_lateral = (
        st[[LEAD_INDEX[lead] for lead in leads]] for leads in (("II", "III", "aVF"), ("I", "aVL"))
    )
    assert inferior.min() > high_lateral.max()

    figure, axes = plt.subplots(6, 2, figsize=(14, 10), sharex=True)
    seconds = np.arange(ecg.shape[1]) / record.fs
    for index, lead in enumerate(LEADS):
        axis = axes[index % 6, index // 6]
        axis.plot(seconds, ecg[index], linewidth=0.7)
        axis.set_ylabel(lead)
        axis.set_xlim(0, 4)
        axis.grid(alpha=0.3)
    figure.suptitle(f"{stemi.filename_hr.iloc[0]}: {stemi.report.iloc[0]} ({record.fs} Hz)")
    png = tmp_path / "synthetic_inferior_stemi.png"
    figure.savefig(png, dpi=80)
    plt.close(figure)
    assert png.stat().st_size > 10_000
    print(f"12-lead plot for review: {png}")
