"""Synthetic hospitals: demo and test data written as real WFDB files in the PTB-XL or Challenge layout.

Each hospital is a site with its own recorder (sampling rate, calibration gain, noise, baseline wander,
50 or 60 Hz mains) and its own population (MI prevalence, age and sex mix, a few missing ages, some
patients recorded twice). Signals come from the dipole model in `shared.data.ecg_waveforms`; MI records
carry territory-specific changes at three severities and non-MI records include ST-T mimics (LVH with
strain, early repolarisation, non-infarct ischaemia), so the MI task is learnable but not trivial.

The output is loaded by the ordinary readers, exactly like real data, and `synthetic_manifest.json`
records what was generated per hospital so tests and the demo can compare. Same seed, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy.io

from shared.data.dataset import LEADS
from shared.data.ecg_waveforms import (
    Acquisition,
    Condition,
    ConditionKind,
    Heart,
    MIStage,
    sample_heart,
    sample_rhythm,
    synthesize_ecg,
)

_Choice = TypeVar("_Choice", bound=str)

LAYOUTS: tuple[str, ...] = ("ptbxl", "challenge")
MANIFEST_NAME = "synthetic_manifest.json"

#: Recorders differ between sites; hospital i records at _SAMPLE_RATES[i % 4] unless a rate is forced.
_SAMPLE_RATES = (500, 250, 1000, 360)
#: Default MI prevalences are spread evenly over this range, then shuffled among hospitals.
_DEFAULT_PREVALENCE_RANGE = (0.10, 0.35)
#: Challenge 2020/2021 sources (sub-folder, record-name prefix) taken by hospitals in this order.
CHALLENGE_SOURCES: tuple[tuple[str, str], ...] = (
    ("cpsc_2018", "A"),
    ("cpsc_2018_extra", "Q"),
    ("st_petersburg_incart", "I"),
    ("ptb", "S"),
    ("ptb-xl", "HR"),
    ("georgia", "E"),
    ("chapman_shaoxing", "JS"),
)

_UNITS_PER_MV = 1000.0  # 1 µV resolution, as in PTB-XL and the Challenge .mat files
_PTBXL_LEAD_NAMES = tuple(name.upper() if name.startswith("aV") else name for name in LEADS)
_FIRST_RECORDING = datetime(2021, 1, 4, 8, 0, 0)

# How conditions are mixed, roughly as in PTB-XL: inferior and anteroseptal MI are the most common.
_MI_TERRITORY_WEIGHTS = {
    "inferior": 0.35,
    "anteroseptal": 0.25,
    "anterior": 0.10,
    "anterolateral": 0.10,
    "inferolateral": 0.10,
    "lateral": 0.10,
}
_MI_STAGE_WEIGHTS: dict[MIStage, float] = {"acute": 0.35, "evolved": 0.35, "subtle": 0.30}
_NON_MI_WEIGHTS: dict[ConditionKind, float] = {
    "normal": 0.50,
    "lvh": 0.15,
    "early_repolarisation": 0.12,
    "ischaemia": 0.13,
    "t_abnormality": 0.10,
}

# _Diagnosis codes in both vocabularies. PTB-XL gives diagnostic statements likelihood 100 and form/rhythm
# statements 0; the Challenge lists SNOMED CT codes.
_MI_SCP_BY_TERRITORY = {
    "anteroseptal": "ASMI",
    "anterior": "AMI",
    "anterolateral": "ALMI",
    "lateral": "LMI",
    "inferior": "IMI",
    "inferolateral": "ILMI",
}
_MI_SNOMED_BY_STAGE = {"acute": "57054005", "evolved": "164867002", "subtle": "164865005"}
_ANTERIOR_MI_SNOMED = "54329005"
_NON_MI_CODES: dict[str, tuple[dict[str, float], tuple[str, ...], str]] = {
    "normal": ({"NORM": 100.0}, (), "normal ECG"),
    "lvh": ({"LVH": 100.0}, ("164873001",), "left ventricular hypertrophy"),
    "early_repolarisation": ({"NORM": 100.0, "STE_": 0.0}, ("164931005",), "early repolarisation"),
    "ischaemia": ({"ISC_": 100.0}, ("164861001",), "ischaemic ST-T changes"),
    "t_abnormality": ({"NDT": 100.0}, ("164934002",), "non-specific T abnormalities"),
}
_INFARCTION_STADIUM = {"acute": "Stadium I", "evolved": "Stadium II-III", "subtle": "unknown"}

#: The scp_statements.csv rows for every code the generator uses (a subset of PTB-XL's columns).
_SCP_STATEMENTS = pd.DataFrame.from_records(
    [
        ("NORM", "normal ECG", 1.0, None, None, "NORM", "NORM"),
        ("IMI", "inferior myocardial infarction", 1.0, None, None, "MI", "IMI"),
        ("ILMI", "inferolateral myocardial infarction", 1.0, None, None, "MI", "IMI"),
        ("ASMI", "anteroseptal myocardial infarction", 1.0, None, None, "MI", "AMI"),
        ("AMI", "anterior myocardial infarction", 1.0, None, None, "MI", "AMI"),
        ("ALMI", "anterolateral myocardial infarction", 1.0, None, None, "MI", "AMI"),
        ("LMI", "lateral myocardial infarction", 1.0, None, None, "MI", "LMI"),
        ("LVH", "left ventricular hypertrophy", 1.0, None, None, "HYP", "LVH"),
        ("ISC_", "non-specific ischemic", 1.0, None, None, "STTC", "ISC_"),
        ("NDT", "non-diagnostic T abnormalities", 1.0, 1.0, None, "STTC", "STTC"),
        ("STE_", "non-specific ST elevation", None, 1.0, None, None, None),
        ("SR", "sinus rhythm", None, None, 1.0, None, None),
        ("SBRAD", "sinus bradycardia", None, None, 1.0, None, None),
        ("STACH", "sinus tachycardia", None, None, 1.0, None, None),
    ],
    columns=["", "description", "diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass"],
)

#: Every column of the real ptbxl_database.csv, so readers written for PTB-XL find what they expect.
_PTBXL_COLUMNS = (
    "ecg_id", "patient_id", "age", "sex", "height", "weight", "nurse", "site", "device", "recording_date",
    "report", "scp_codes", "heart_axis", "infarction_stadium1", "infarction_stadium2", "validated_by",
    "second_opinion", "initial_autogenerated_report", "validated_by_human", "baseline_drift",
    "static_noise", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker", "strat_fold",
    "filename_lr", "filename_hr",
)  # fmt: skip


@dataclass(frozen=True)
class _Diagnosis:
    """A condition with its codes in both vocabularies and the words of its report."""

    condition: Condition
    scp_codes: dict[str, float]
    snomed_codes: tuple[str, ...]
    text: str

    @property
    def is_mi(self) -> bool:
        return self.condition.kind == "mi"


def _diagnosis_for(condition: Condition) -> _Diagnosis:
    """The PTB-XL statements and SNOMED CT codes a cardiologist would give `condition`."""
    if condition.kind != "mi":
        scp, snomed, text = _NON_MI_CODES[condition.kind]
        if condition.kind == "ischaemia":
            text = f"{text} ({condition.territory})"
        return _Diagnosis(condition, dict(scp), snomed, text)
    assert condition.territory is not None and condition.stage is not None  # guaranteed by Condition
    snomed = (_MI_SNOMED_BY_STAGE[condition.stage],)
    if condition.stage == "acute" and condition.territory.startswith("anter"):
        snomed += (_ANTERIOR_MI_SNOMED,)
    text = f"{condition.territory} myocardial infarction ({condition.stage})"
    return _Diagnosis(condition, {_MI_SCP_BY_TERRITORY[condition.territory]: 100.0}, snomed, text)


def _rhythm_codes(heart_rate_bpm: float) -> tuple[str, str, str]:
    """(SCP statement, SNOMED CT code, words) for a sinus rhythm at this rate."""
    if heart_rate_bpm < 60:
        return "SBRAD", "426177001", "sinus bradycardia"
    if heart_rate_bpm > 100:
        return "STACH", "427084000", "sinus tachycardia"
    return "SR", "426783006", "sinus rhythm"


@dataclass(frozen=True)
class _HospitalProfile:
    """What makes one synthetic site different from another: its recorder and its patients."""

    hospital: str  # the id loaders report: PTB-XL site number or Challenge source prefix
    folder: str  # Challenge sub-folder; "" for the PTB-XL layout
    acquisition: Acquisition
    mi_prevalence: float
    mean_age: float
    age_sd: float
    female_fraction: float
    missing_age_fraction: float
    second_ecg_fraction: float  # share of records that are a patient's second ECG


@dataclass(frozen=True)
class SynthHospital:
    """What was written for one hospital (also stored in the manifest)."""

    hospital: str
    folder: str
    records: int
    patients: int
    mi_positives: int
    sample_rate: int
    mains_hz: int
    gain: float
    noise_mv: float
    wander_mv: float
    missing_ages: int
    female_records: int
    mean_age: float | None  # None when no record has an age

    @property
    def mi_prevalence(self) -> float:
        return self.mi_positives / self.records


@dataclass(frozen=True)
class SynthSummary:
    """Everything `generate_hospitals` wrote, per hospital; round-trips through the manifest file."""

    root: Path
    layout: str
    seed: int
    duration_s: float
    hospitals: tuple[SynthHospital, ...]

    @property
    def records(self) -> int:
        return sum(h.records for h in self.hospitals)

    @property
    def mi_positives(self) -> int:
        return sum(h.mi_positives for h in self.hospitals)

    def hospital(self, hospital: str) -> SynthHospital:
        """The entry of one hospital id; KeyError names the known ids."""
        for entry in self.hospitals:
            if entry.hospital == hospital:
                return entry
        raise KeyError(f"no synthetic hospital {hospital!r}; have {[h.hospital for h in self.hospitals]}")

    def to_json(self) -> str:
        body = {
            "layout": self.layout,
            "seed": self.seed,
            "duration_s": self.duration_s,
            "records": self.records,
            "mi_positives": self.mi_positives,
            "hospitals": [asdict(h) for h in self.hospitals],
        }
        return json.dumps(body, indent=2) + "\n"


def read_manifest(root: str | Path) -> SynthSummary:
    """The summary stored by `generate_hospitals` in `root`; a clear error when there is none."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no synthetic manifest; was this folder made by `cardiofed synth`?")
    body = json.loads(path.read_text())
    hospitals = tuple(SynthHospital(**entry) for entry in body["hospitals"])
    return SynthSummary(Path(root), body["layout"], body["seed"], body["duration_s"], hospitals)


@dataclass(frozen=True)
class _Patient:
    patient_id: int
    diagnosis: _Diagnosis
    heart: Heart
    age: int | None
    female: bool
    strat_fold: int


@dataclass(frozen=True)
class _Ecg:
    recorded_at: datetime
    rhythm_scp: str
    rhythm_snomed: str
    rhythm_text: str


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, hospital, purpose, ...) so streams never shift one another."""
    return np.random.default_rng([seed, *stream])


def _hospital_ids(layout: str, hospitals: int) -> list[tuple[str, str]]:
    """(hospital id, sub-folder) per hospital, as the layout's loader will name them."""
    if layout == "ptbxl":
        return [(str(index), "") for index in range(hospitals)]
    extra = [_extra_source(index) for index in range(max(0, hospitals - len(CHALLENGE_SOURCES)))]
    return [(prefix, folder) for folder, prefix in [*CHALLENGE_SOURCES, *extra][:hospitals]]


def _extra_source(index: int) -> tuple[str, str]:
    """(folder, prefix) of the index-th hospital beyond the Challenge's sources: HA, HB, ..., HZ, HAA, ...

    Letters only, because a record's source is the run of letters before its first digit.
    """
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return f"hospital_{letters.lower()}", f"H{letters}"


def _draw_profiles(
    layout: str, hospitals: int, seed: int, mi_prevalence: Sequence[float] | None, sample_rate: int | None
) -> list[_HospitalProfile]:
    if mi_prevalence is None:
        spread = np.linspace(*_DEFAULT_PREVALENCE_RANGE, hospitals) if hospitals > 1 else np.array([0.2])
        mi_prevalence = [float(p) for p in _rng(seed).permutation(spread)]
    profiles = []
    for index, (hospital, folder) in enumerate(_hospital_ids(layout, hospitals)):
        rng = _rng(seed, index, 0)
        acquisition = Acquisition(
            sample_rate=sample_rate or _SAMPLE_RATES[index % len(_SAMPLE_RATES)],
            gain=rng.uniform(0.85, 1.15),
            noise_mv=rng.uniform(0.005, 0.04),
            wander_mv=rng.uniform(0.03, 0.3),
            mains_hz=(50, 60)[index % 2],
            mains_mv=rng.uniform(0.005, 0.05),
        )
        profiles.append(
            _HospitalProfile(
                hospital=hospital,
                folder=folder,
                acquisition=acquisition,
                mi_prevalence=mi_prevalence[index],
                mean_age=rng.uniform(52.0, 68.0),
                age_sd=rng.uniform(12.0, 18.0),
                female_fraction=rng.uniform(0.35, 0.6),
                missing_age_fraction=rng.uniform(0.01, 0.05),
                # The Challenge headers carry no patient id, so there every record is its own patient.
                second_ecg_fraction=rng.uniform(0.05, 0.15) if layout == "ptbxl" else 0.0,
            )
        )
    return profiles


def _choose(rng: np.random.Generator, weights: dict[_Choice, float]) -> _Choice:
    names = list(weights)
    return names[rng.choice(len(names), p=np.array(list(weights.values())))]


def _draw_condition(rng: np.random.Generator, is_mi: bool) -> Condition:
    territory = _choose(rng, _MI_TERRITORY_WEIGHTS)
    if is_mi:
        return Condition("mi", territory, _choose(rng, _MI_STAGE_WEIGHTS))
    kind = _choose(rng, _NON_MI_WEIGHTS)
    return Condition(kind, territory if kind == "ischaemia" else None)


def _draw_patients(
    profile: _HospitalProfile, records: int, first_patient_id: int, rng: np.random.Generator
) -> list[tuple[_Patient, int]]:
    """Patients with their number of ECGs, so that exactly round(prevalence * records) ECGs show MI."""
    twice = round(profile.second_ecg_fraction * records)
    once = records - 2 * twice
    mi_records = round(profile.mi_prevalence * records)
    # Split the MI records between twice- and once-recorded patients in proportion, within what is feasible.
    lowest, highest = max(0, -(-(mi_records - once) // 2)), min(twice, mi_records // 2)
    mi_twice = int(np.clip(round(twice * mi_records / records), lowest, highest))
    mi_once = mi_records - 2 * mi_twice
    ecg_counts = [2] * twice + [1] * once
    is_mi = np.zeros(twice + once, dtype=bool)
    is_mi[rng.choice(twice, mi_twice, replace=False)] = True
    is_mi[twice + rng.choice(once, mi_once, replace=False)] = True

    patients = []
    for offset, (count, mi) in enumerate(zip(ecg_counts, is_mi, strict=True)):
        condition = _draw_condition(rng, bool(mi))
        # MI patients are older and more often men, as in every MI cohort.
        age = rng.normal(profile.mean_age + (7.0 if mi else 0.0), profile.age_sd * (0.85 if mi else 1.0))
        female = rng.random() < profile.female_fraction * (0.6 if mi else 1.0)
        patient = _Patient(
            patient_id=first_patient_id + offset,
            diagnosis=_diagnosis_for(condition),
            heart=sample_heart(condition, rng),
            age=None if rng.random() < profile.missing_age_fraction else int(np.clip(round(age), 18, 95)),
            female=bool(female),
            strat_fold=int(rng.integers(1, 11)),
        )
        patients.append((patient, count))
    return patients


def _to_digital(leads_mv: np.ndarray, where: str) -> np.ndarray:
    """(12, n) mV to int16 counts at 1 µV; refuses to clip, which would mean a generator bug."""
    counts = np.round(leads_mv * _UNITS_PER_MV)
    if np.abs(counts).max() > np.iinfo(np.int16).max:
        raise ValueError(
            f"{where}: synthetic signal exceeds the 16-bit range ({np.abs(leads_mv).max():.1f} mV)"
        )
    return counts.astype(np.int16)


@dataclass(frozen=True)
class _HeaderStyle:
    """How one source's software spells a WFDB header for 16-bit signals at 1000 units per mV."""

    signal_suffix: str  # ".dat", or ".mat" for MATLAB v4 files
    format_field: str  # "16", or "16+24" where a 24-byte MATLAB v4 header precedes the samples
    gain_field: str
    signed_checksums: bool
    lead_names: tuple[str, ...]


# PTB-XL's headers are what wfdb.wrsamp writes (a test checks both byte for byte); the Challenge's differ
# in spelling only, and hospitals download them as they are, so the synthetic files copy both exactly.
_PTBXL_STYLE = _HeaderStyle(".dat", "16", "1000.0(0)/mV", False, _PTBXL_LEAD_NAMES)
_CHALLENGE_STYLE = _HeaderStyle(".mat", "16+24", "1000/mV", True, LEADS)


def _write_header(
    folder: Path,
    name: str,
    sample_rate: int,
    digital: np.ndarray,
    style: _HeaderStyle,
    comments: Sequence[str],
) -> None:
    """`folder/name.hea` for the (12, n) int16 `digital` signal.

    Written directly rather than through wfdb.wrsamp, whose per-record field validation costs more than
    synthesising the signal; the round trip through wfdb.rdrecord is tested instead.
    """
    checksums = digital.astype(np.int64).sum(axis=1) % 65536
    if style.signed_checksums:
        checksums = (checksums + 32768) % 65536 - 32768
    lines = [f"{name} {len(style.lead_names)} {sample_rate} {digital.shape[1]}"]
    for lead, first, checksum in zip(style.lead_names, digital[:, 0], checksums, strict=True):
        signal_file = f"{name}{style.signal_suffix}"
        lines.append(
            f"{signal_file} {style.format_field} {style.gain_field} 16 0 {first} {checksum} 0 {lead}"
        )
    lines += [f"#{comment}" for comment in comments]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")


class _PtbxlWriter:
    """PTB-XL layout: one CSV row per ECG and records under records500/ at the hospital's own rate."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: list[dict[str, object]] = []

    def write(self, profile: _HospitalProfile, patient: _Patient, ecg: _Ecg, digital: np.ndarray) -> None:
        ecg_id = len(self.rows) + 1
        relative = f"records500/{ecg_id // 1000 * 1000:05d}/{ecg_id:05d}_hr"
        folder, name = (self.root / relative).parent, Path(relative).name
        folder.mkdir(parents=True, exist_ok=True)
        # Format 16: little-endian 16-bit samples, the 12 leads of one instant after another.
        digital.T.astype("<i2").tofile(folder / f"{name}.dat")
        _write_header(folder, name, profile.acquisition.sample_rate, digital, _PTBXL_STYLE, ())
        scp_codes = {**patient.diagnosis.scp_codes, ecg.rhythm_scp: 0.0}
        stage = patient.diagnosis.condition.stage
        self.rows.append(
            {
                "ecg_id": ecg_id,
                "patient_id": float(patient.patient_id),
                "age": np.nan if patient.age is None else float(patient.age),
                "sex": int(patient.female),
                "site": float(profile.hospital),
                "device": f"SYN-12 {profile.acquisition.sample_rate}",
                "recording_date": ecg.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                "report": f"{ecg.rhythm_text}, {patient.diagnosis.text}",
                "scp_codes": str(scp_codes),
                "infarction_stadium1": _INFARCTION_STADIUM[stage] if stage else None,
                "second_opinion": False,
                "initial_autogenerated_report": False,
                "validated_by_human": True,
                "strat_fold": patient.strat_fold,
                "filename_lr": None,
                "filename_hr": relative,
            }
        )

    def finish(self) -> None:
        database = pd.DataFrame(self.rows, columns=list(_PTBXL_COLUMNS)).set_index("ecg_id")
        database.to_csv(self.root / "ptbxl_database.csv")
        _SCP_STATEMENTS.to_csv(self.root / "scp_statements.csv", index=False)


class _ChallengeWriter:
    """PhysioNet Challenge layout: per-source sub-folders of `.hea` headers beside MATLAB v4 `.mat` files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: dict[str, int] = {}

    def write(self, profile: _HospitalProfile, patient: _Patient, ecg: _Ecg, digital: np.ndarray) -> None:
        number = self.written.get(profile.hospital, 0) + 1
        self.written[profile.hospital] = number
        name = f"{profile.hospital}{number:05d}"
        folder = self.root / profile.folder
        folder.mkdir(parents=True, exist_ok=True)
        # MATLAB v4 stores the (12, n) matrix column-major after a 24-byte header: exactly WFDB format 16
        # with byte offset 24, which is how the Challenge's headers describe their .mat files.
        scipy.io.savemat(folder / f"{name}.mat", {"val": digital}, format="4")
        dx = ",".join((*patient.diagnosis.snomed_codes, ecg.rhythm_snomed))
        age = "NaN" if patient.age is None else str(patient.age)
        comments = [f"Age: {age}", f"Sex: {'Female' if patient.female else 'Male'}", f"Dx: {dx}"]
        comments += ["Rx: Unknown", "Hx: Unknown", "Sx: Unknown"]
        _write_header(folder, name, profile.acquisition.sample_rate, digital, _CHALLENGE_STYLE, comments)

    def finish(self) -> None:
        """Nothing is pending: every record was complete when written."""


def generate_hospitals(
    out: str | Path,
    *,
    hospitals: int = 4,
    records_per_hospital: int = 100,
    layout: str = "ptbxl",
    seed: int = 0,
    duration_s: float = 10.0,
    mi_prevalence: Sequence[float] | None = None,
    sample_rate: int | None = None,
    progress: Callable[[SynthHospital], None] | None = None,
) -> SynthSummary:
    """Write `hospitals` synthetic hospitals of `records_per_hospital` ECGs each into the empty folder `out`.

    `mi_prevalence` gives one prevalence per hospital (default: spread over 10-35%); the number of MI
    records of each hospital is exactly round(prevalence * records). `sample_rate` forces one rate on every
    hospital (e.g. 100 Hz for fast tests) instead of the default mix of 500, 250, 1000 and 360 Hz.
    `progress` is called with each hospital's summary once it is written. Same arguments, same bytes.
    """
    root = Path(out)
    _check_arguments(
        root, hospitals, records_per_hospital, layout, seed, duration_s, mi_prevalence, sample_rate
    )
    root.mkdir(parents=True, exist_ok=True)
    writer: _PtbxlWriter | _ChallengeWriter = (
        _PtbxlWriter(root) if layout == "ptbxl" else _ChallengeWriter(root)
    )

    written = []
    recorded_at = _FIRST_RECORDING
    for index, profile in enumerate(_draw_profiles(layout, hospitals, seed, mi_prevalence, sample_rate)):
        population_rng = _rng(seed, index, 1)
        # Disjoint id ranges: no patient is ever seen at two hospitals.
        first_patient_id = 10_000 + index * 10 * records_per_hospital
        patients = _draw_patients(profile, records_per_hospital, first_patient_id, population_rng)
        # Visits are interleaved in time, as at a real site, so a patient's two ECGs are rarely adjacent.
        visits = [patient for patient, count in patients for _ in range(count)]
        for ecg_index in population_rng.permutation(len(visits)):
            patient = visits[ecg_index]
            signal_rng = _rng(seed, index, 2, int(ecg_index))
            rhythm = sample_rhythm(signal_rng)
            leads_mv, _ = synthesize_ecg(patient.heart, rhythm, profile.acquisition, duration_s, signal_rng)
            recorded_at += timedelta(minutes=int(population_rng.integers(5, 600)))
            ecg = _Ecg(recorded_at, *_rhythm_codes(rhythm.heart_rate_bpm))
            digital = _to_digital(leads_mv, f"hospital {profile.hospital}, patient {patient.patient_id}")
            writer.write(profile, patient, ecg, digital)
        summary = _summarise(profile, patients)
        written.append(summary)
        if progress is not None:
            progress(summary)
    writer.finish()

    result = SynthSummary(root, layout, seed, duration_s, tuple(written))
    (root / MANIFEST_NAME).write_text(result.to_json())
    return result


def _summarise(profile: _HospitalProfile, patients: list[tuple[_Patient, int]]) -> SynthHospital:
    ages = [p.age for p, count in patients for _ in range(count) if p.age is not None]
    return SynthHospital(
        hospital=profile.hospital,
        folder=profile.folder,
        records=sum(count for _, count in patients),
        patients=len(patients),
        mi_positives=sum(count for p, count in patients if p.diagnosis.is_mi),
        sample_rate=profile.acquisition.sample_rate,
        mains_hz=profile.acquisition.mains_hz,
        gain=round(profile.acquisition.gain, 4),
        noise_mv=round(profile.acquisition.noise_mv, 4),
        wander_mv=round(profile.acquisition.wander_mv, 4),
        missing_ages=sum(count for p, count in patients if p.age is None),
        female_records=sum(count for p, count in patients if p.female),
        mean_age=round(float(np.mean(ages)), 2) if ages else None,
    )


def _check_arguments(
    root: Path,
    hospitals: int,
    records_per_hospital: int,
    layout: str,
    seed: int,
    duration_s: float,
    mi_prevalence: Sequence[float] | None,
    sample_rate: int | None,
) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; synthetic hospitals can be written as {LAYOUTS}")
    if hospitals < 1 or records_per_hospital < 1:
        raise ValueError(
            f"need at least 1 hospital and 1 record each, got {hospitals} x {records_per_hospital}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sampling rate must be positive, got {sample_rate} Hz")
    if mi_prevalence is not None:
        if len(mi_prevalence) != hospitals:
            raise ValueError(f"{len(mi_prevalence)} MI prevalences given for {hospitals} hospitals")
        if not all(0.0 <= p <= 1.0 for p in mi_prevalence):
            raise ValueError(f"MI prevalences must lie in [0, 1], got {list(mi_prevalence)}")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root}: not an empty folder; synthetic hospitals are written into a new one")
