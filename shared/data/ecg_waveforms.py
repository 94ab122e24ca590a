"""Physiologic 12-lead ECG waveforms from a moving cardiac dipole.

The heart's electrical activity is modelled as one time-varying 3D dipole (the "heart vector"), written as a
sum of Gaussian waves per beat: P (atrial depolarisation), septal Q, R, S (ventricular depolarisation) and
an asymmetric T (repolarisation), each pointing in its own direction. An injury current adds a dipole during
the ST segment. Coordinates: x to the patient's left, y towards the feet, z to the front.

Each electrode sees the dipole through its own lead-field vector; recording artefacts (white noise, baseline
wander, mains interference) are added per *electrode*, and the 12 leads are then formed the way an ECG
machine forms them (Einthoven's limb leads, Goldberger's augmented leads, precordial leads against Wilson's
central terminal). So III = II − I, aVR = −(I + II)/2, aVL = I − II/2 and aVF = II − I/2 hold exactly, noise
included, as they do on a real recorder.

Myocardial infarction is a loss of depolarising forces and an injury current in one territory, both along
a territory vector: ST elevation in the leads facing the territory (with reciprocal depression opposite),
pathological Q waves (early QRS forces pointing away from the dead tissue) and T inversion, graded by stage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

ConditionKind = Literal["normal", "mi", "lvh", "early_repolarisation", "ischaemia", "t_abnormality"]
MIStage = Literal["acute", "evolved", "subtle"]

MI_STAGES: tuple[MIStage, ...] = ("acute", "evolved", "subtle")


def _unit(x: float, y: float, z: float) -> np.ndarray:
    vector = np.array([x, y, z], dtype=float)
    return vector / np.linalg.norm(vector)


#: Direction from the heart's centre towards each territory (x left, y feet, z front). The small superior
#: (negative y) tilt of the anterior territories gives the reciprocal inferior depression seen clinically.
TERRITORIES: dict[str, np.ndarray] = {
    "anteroseptal": _unit(-0.3, -0.15, 1.0),
    "anterior": _unit(0.1, -0.15, 1.0),
    "anterolateral": _unit(0.7, -0.35, 0.7),
    "lateral": _unit(0.85, -0.5, -0.15),
    "inferior": _unit(-0.3, 1.0, -0.05),
    "inferolateral": _unit(0.35, 0.9, -0.1),
}

_LIMB_ELECTRODES = ("RA", "LA", "LL")
_PRECORDIAL_LEADS = ("V1", "V2", "V3", "V4", "V5", "V6")
# Horizontal-plane angle of each chest electrode from the patient's left towards the front, and a gain for
# its proximity to the heart (chest electrodes see much larger deflections than the limbs).
_PRECORDIAL_ANGLE_DEG = (115.0, 95.0, 78.0, 60.0, 35.0, 10.0)
_PRECORDIAL_GAIN = (1.0, 1.6, 1.8, 1.9, 1.8, 1.5)


def _electrode_lead_fields() -> np.ndarray:
    """(9, 3) lead fields for RA, LA, LL, V1-V6; the limb triangle is scaled so that lead I reads x."""
    sqrt3 = np.sqrt(3.0)
    limbs = np.array([[-0.5, -0.5 / sqrt3, 0.0], [0.5, -0.5 / sqrt3, 0.0], [0.0, 1.0 / sqrt3, 0.0]])
    angles = np.deg2rad(_PRECORDIAL_ANGLE_DEG)
    chest = np.stack([np.cos(angles), np.zeros_like(angles), np.sin(angles)], axis=1)
    return np.vstack([limbs, chest * np.array(_PRECORDIAL_GAIN)[:, None]])


_ELECTRODE_LEAD_FIELDS = _electrode_lead_fields()


@dataclass(frozen=True)
class Condition:
    """What is wrong with a heart: MI (with territory and stage), an MI mimic, or nothing."""

    kind: ConditionKind
    territory: str | None = None  # for "mi" and "ischaemia": a key of TERRITORIES
    stage: MIStage | None = None  # for "mi" only

    def __post_init__(self) -> None:
        needs_territory = self.kind in ("mi", "ischaemia")
        if needs_territory and self.territory not in TERRITORIES:
            raise ValueError(
                f"{self.kind} needs a territory among {sorted(TERRITORIES)}, got {self.territory!r}"
            )
        if not needs_territory and self.territory is not None:
            raise ValueError(f"{self.kind} has no territory, got {self.territory!r}")
        if (self.kind == "mi") != (self.stage is not None):
            raise ValueError(f"a stage ({', '.join(MI_STAGES)}) is required for MI and only for MI")
        if self.stage is not None and self.stage not in MI_STAGES:
            raise ValueError(f"unknown MI stage {self.stage!r}; expected one of {MI_STAGES}")


@dataclass(frozen=True)
class Wave:
    """One Gaussian component of the heart vector, repeated every beat."""

    offset_s: float  # centre relative to the R peak, at a heart rate of 60 bpm
    width_s: float  # Gaussian standard deviation at 60 bpm
    dipole_mv: np.ndarray  # (3,) direction and size
    stretches_with_qt: bool = False  # repolarisation shortens at fast rates (QT ~ sqrt(RR))


@dataclass(frozen=True)
class Heart:
    """One patient's beat: its dipole waves and the injury current that flows during the ST segment."""

    waves: tuple[Wave, ...]
    injury_mv: np.ndarray  # (3,) ST-segment dipole; zero when there is no injury or strain


@dataclass(frozen=True)
class Rhythm:
    """Sinus rhythm: mean heart rate plus breathing-driven and random beat-to-beat changes of RR."""

    heart_rate_bpm: float
    sinus_arrhythmia: float  # peak fractional RR modulation with breathing
    breathing_hz: float
    rr_jitter: float  # standard deviation of the random fractional RR change


@dataclass(frozen=True)
class Acquisition:
    """How a hospital's recorder captures the signal (its calibration, interference and sampling rate)."""

    sample_rate: int
    gain: float  # calibration error of the amplifier, 1.0 is perfect
    noise_mv: float  # white noise per electrode, standard deviation
    wander_mv: float  # baseline wander per electrode (breathing, electrode drift), amplitude
    mains_hz: int  # 50 or 60
    mains_mv: float  # mains interference per electrode, amplitude


# R-peak-relative timing of the depolarisation waves and the J point (end of QRS), at 60 bpm.
_Q_OFFSET_S, _R_WIDTH_S, _S_OFFSET_S = -0.030, 0.0115, 0.030
_J_POINT_S = 0.045
_T_OFFSET_S, _T_WIDTH_S = 0.28, 0.055
# The injury current switches on sharply at the J point and fades with the end of repolarisation.
_INJURY_RISE_S, _INJURY_FALL_S = 0.008, 0.04


def _frontal(axis_deg: float, anterior: float) -> np.ndarray:
    """A vector with the given frontal-plane axis (0° = left, 90° = feet) and a forward component."""
    angle = np.deg2rad(axis_deg)
    return np.array([np.cos(angle), np.sin(angle), anterior])


def _healthy_waves(rng: np.random.Generator) -> dict[str, Wave]:
    """The waves of a normal heart, named, with per-patient axis, amplitudes and PR interval."""
    qrs_axis = float(np.clip(rng.normal(50.0, 25.0), -30.0, 100.0))
    r_size = rng.uniform(1.0, 1.9)
    t_axis = qrs_axis - rng.uniform(0.0, 30.0)
    pr_shift = rng.normal(0.0, 0.012)
    waves = {
        "P": Wave(-0.165 + pr_shift, 0.022, rng.uniform(0.10, 0.20) * _frontal(rng.normal(50, 12), 0.15)),
        "septal_q": Wave(_Q_OFFSET_S, 0.008, rng.uniform(0.05, 0.3) * _unit(-0.6, 0.3, 0.75)),
        "R": Wave(0.0, _R_WIDTH_S, r_size * _frontal(qrs_axis, rng.uniform(-0.3, 0.0))),
        "S": Wave(_S_OFFSET_S, 0.012, rng.uniform(0.25, 0.6) * _unit(-0.35, -0.5, -0.8)),
        # Two Gaussians make the T wave asymmetric: a slow upstroke and a faster downstroke.
        "T": Wave(
            _T_OFFSET_S, _T_WIDTH_S, rng.uniform(0.25, 0.5) * _frontal(t_axis, rng.uniform(0.3, 0.7)), True
        ),
        "T_upstroke": Wave(0.22, 0.05, np.zeros(3), True),
    }
    return waves


def sample_heart(condition: Condition, rng: np.random.Generator) -> Heart:
    """Draw one patient's heart with `condition`; severities are drawn within the condition's range."""
    waves = _healthy_waves(rng)
    injury = np.zeros(3)
    t_dipole = waves["T"].dipole_mv

    if condition.kind == "mi":
        assert condition.territory is not None  # guaranteed by Condition
        toward = TERRITORIES[condition.territory]
        r_size = float(np.linalg.norm(waves["R"].dipole_mv))
        if condition.stage == "acute":  # STEMI-like: injury current and hyperacute T, little necrosis yet
            injury = rng.uniform(0.10, 0.35) * toward
            t_dipole = t_dipole + rng.uniform(0.10, 0.35) * toward
            q_size, r_loss = rng.uniform(0.0, 0.15), 0.0
        elif condition.stage == "evolved":  # necrosis: pathological Q, lost R, inverted T, residual ST
            injury = rng.uniform(0.0, 0.06) * toward
            t_dipole = t_dipole - rng.uniform(0.2, 0.5) * toward
            q_size, r_loss = rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.4) * r_size
        else:  # subtle: small Q, barely raised ST, flattened T; often missed by readers too
            injury = rng.uniform(0.0, 0.05) * toward
            t_dipole = t_dipole - rng.uniform(0.0, 0.1) * toward
            q_size, r_loss = rng.uniform(0.0, 0.12), 0.0
        # Early depolarisation forces point away from the dead tissue: a broad Q in the facing leads.
        waves["infarct_q"] = Wave(-0.022, 0.013, -q_size * toward)
        waves["R_loss"] = Wave(0.0, _R_WIDTH_S, -r_loss * toward)
    elif condition.kind == "lvh":
        left_posterior = _unit(0.9, 0.1, -0.35)
        waves["R"] = replace(
            waves["R"], dipole_mv=waves["R"].dipole_mv + rng.uniform(0.8, 1.6) * left_posterior
        )
        if rng.random() < 0.6:  # strain: repolarisation away from the thick lateral wall (discordant ST-T)
            away_from_lateral = -_unit(0.9, 0.1, -0.3)
            injury = rng.uniform(0.05, 0.15) * away_from_lateral
            t_dipole = rng.uniform(0.1, 0.35) * away_from_lateral + 0.2 * t_dipole
    elif condition.kind == "early_repolarisation":  # benign ST elevation concordant with the T wave
        injury = rng.uniform(0.05, 0.18) * t_dipole / np.linalg.norm(t_dipole)
        waves["J_notch"] = Wave(_J_POINT_S, 0.008, 0.1 * waves["R"].dipole_mv)
    elif condition.kind == "ischaemia":  # subendocardial: ST depression and T inversion, no Q waves
        assert condition.territory is not None
        toward = TERRITORIES[condition.territory]
        injury = -rng.uniform(0.04, 0.12) * toward
        t_dipole = t_dipole - rng.uniform(0.1, 0.3) * toward
    elif condition.kind == "t_abnormality":  # non-specific flattening
        t_dipole = rng.uniform(0.2, 0.6) * t_dipole

    waves["T"] = replace(waves["T"], dipole_mv=t_dipole)
    waves["T_upstroke"] = replace(waves["T_upstroke"], dipole_mv=0.35 * t_dipole)
    return Heart(waves=tuple(waves.values()), injury_mv=injury)


def sample_rhythm(rng: np.random.Generator) -> Rhythm:
    """Sinus rhythm between 50 and 110 bpm with physiological RR variability."""
    return Rhythm(
        heart_rate_bpm=float(np.clip(rng.normal(72.0, 13.0), 50.0, 110.0)),
        sinus_arrhythmia=rng.uniform(0.01, 0.05),
        breathing_hz=rng.uniform(0.18, 0.33),
        rr_jitter=rng.uniform(0.005, 0.02),
    )


def beat_times(rhythm: Rhythm, duration_s: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """R-peak times (s) from one beat before 0 to one after the end (edges hold partial beats), and RR (s)."""
    mean_rr = 60.0 / rhythm.heart_rate_bpm
    breathing_phase = rng.uniform(0, 2 * np.pi)
    time = -rng.uniform(0.0, mean_rr) - mean_rr
    times, intervals = [], []
    while time < duration_s + mean_rr:
        modulation = rhythm.sinus_arrhythmia * np.sin(
            2 * np.pi * rhythm.breathing_hz * time + breathing_phase
        )
        rr = mean_rr * (1.0 + modulation + rhythm.rr_jitter * rng.standard_normal())
        times.append(time)
        intervals.append(rr)
        time += rr
    return np.array(times), np.array(intervals)


def _beat_dipole(heart: Heart, time_from_r: np.ndarray, qt_scale: float) -> np.ndarray:
    """(3, m) dipole of one beat at times relative to its R peak."""
    dipole = np.zeros((3, time_from_r.size))
    for wave in heart.waves:
        scale = qt_scale if wave.stretches_with_qt else 1.0
        bump = np.exp(-0.5 * ((time_from_r - wave.offset_s * scale) / (wave.width_s * scale)) ** 2)
        dipole += wave.dipole_mv[:, None] * bump[None, :]
    if np.any(heart.injury_mv):
        # The injury current flows from the J point until repolarisation ends, merging into the T wave.
        rise = np.tanh((time_from_r - _J_POINT_S) / _INJURY_RISE_S)
        fall = np.tanh((time_from_r - _injury_end_s(qt_scale)) / (_INJURY_FALL_S * qt_scale))
        dipole += heart.injury_mv[:, None] * (0.5 * (rise - fall))[None, :]
    return dipole


def _injury_end_s(qt_scale: float) -> float:
    return (_T_OFFSET_S + _T_WIDTH_S) * qt_scale


def _beat_extent(heart: Heart, qt_scale: float) -> tuple[float, float]:
    """Times around the R peak outside which a beat contributes nothing measurable (< 1e-5 of a wave)."""
    reach = 6.0  # standard deviations of a Gaussian, or time constants of a tanh edge
    starts, ends = [_J_POINT_S - reach * _INJURY_RISE_S], [_injury_end_s(qt_scale) + reach * _INJURY_FALL_S]
    for wave in heart.waves:
        scale = qt_scale if wave.stretches_with_qt else 1.0
        starts.append((wave.offset_s - reach * wave.width_s) * scale)
        ends.append((wave.offset_s + reach * wave.width_s) * scale)
    return min(starts), max(ends)


def heart_vector(heart: Heart, beats: np.ndarray, rr: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The (3, n) dipole at sorted times `t` for beats with R peaks at `beats` and RR intervals `rr`."""
    dipole = np.zeros((3, t.size))
    for beat, interval in zip(beats, rr, strict=True):
        qt_scale = float(np.sqrt(interval))  # Bazett: repolarisation timing scales with sqrt(RR)
        # Each beat is evaluated only where it is non-negligible, which keeps synthesis linear in duration.
        earliest, latest = _beat_extent(heart, qt_scale)
        first, last = np.searchsorted(t, beat + earliest), np.searchsorted(t, beat + latest, side="right")
        if first < last:
            dipole[:, first:last] += _beat_dipole(heart, t[first:last] - beat, qt_scale)
    return dipole


def _sinusoids(frequency_hz: float, t: np.ndarray, amplitude: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """amplitude * sin(2 pi f t + phase) per (k, 1) amplitude and phase, from one sine and cosine of t."""
    angle = 2 * np.pi * frequency_hz * t[None, :]
    return amplitude * (np.cos(phase) * np.sin(angle) + np.sin(phase) * np.cos(angle))


def _electrode_artefacts(acquisition: Acquisition, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(9, n) noise, baseline wander and mains pick-up, independent per electrode as on a real patient."""
    n_electrodes = _ELECTRODE_LEAD_FIELDS.shape[0]
    artefacts = acquisition.noise_mv * rng.standard_normal((n_electrodes, t.size))
    breathing_hz, drift_hz = rng.uniform(0.15, 0.35), rng.uniform(0.03, 0.08)
    for frequency in (breathing_hz, drift_hz):
        amplitude = acquisition.wander_mv * rng.uniform(0.2, 1.0, size=(n_electrodes, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(n_electrodes, 1))
        artefacts += _sinusoids(frequency, t, amplitude, phase)
    # A recorder's anti-aliasing filter removes mains hum it cannot represent.
    if acquisition.sample_rate > 2.5 * acquisition.mains_hz:
        amplitude = acquisition.mains_mv * rng.uniform(0.5, 1.5, size=(n_electrodes, 1))
        phase = rng.uniform(0, 2 * np.pi) + rng.normal(0.0, 0.3, size=(n_electrodes, 1))
        artefacts += _sinusoids(acquisition.mains_hz, t, amplitude, phase)
    return artefacts


def leads_from_electrodes(potentials: np.ndarray) -> np.ndarray:
    """The 12 standard leads (LEADS order) from (9, n) potentials at RA, LA, LL, V1-V6."""
    right_arm, left_arm, left_leg = potentials[0], potentials[1], potentials[2]
    wilson_terminal = (right_arm + left_arm + left_leg) / 3.0
    limb_and_augmented = [
        left_arm - right_arm,  # I
        left_leg - right_arm,  # II
        left_leg - left_arm,  # III
        right_arm - (left_arm + left_leg) / 2.0,  # aVR
        left_arm - (right_arm + left_leg) / 2.0,  # aVL
        left_leg - (right_arm + left_arm) / 2.0,  # aVF
    ]
    precordial = potentials[3:] - wilson_terminal[None, :]
    return np.vstack([np.stack(limb_and_augmented), precordial])


def synthesize_ecg(
    heart: Heart, rhythm: Rhythm, acquisition: Acquisition, duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A recorded ECG in mV, (12, n) in `shared.data.dataset.LEADS` order, and its R-peak times (s)."""
    n_samples = round(duration_s * acquisition.sample_rate)
    t = np.arange(n_samples) / acquisition.sample_rate
    beats, rr = beat_times(rhythm, duration_s, rng)
    potentials = _ELECTRODE_LEAD_FIELDS @ heart_vector(heart, beats, rr, t)
    potentials += _electrode_artefacts(acquisition, t, rng)
    leads = acquisition.gain * leads_from_electrodes(potentials)
    inside = (beats >= 0.0) & (beats < duration_s)
    return leads, beats[inside]
