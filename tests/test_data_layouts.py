"""The PhysioNet Challenge and plain WFDB layouts, built here with wfdb's writer (and scipy for .mat)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.io
from test_data_builders import ecg_like, write_record

from shared.data import LEADS, DataError, census, load_dataset

CHALLENGE_COMMENTS = ("Rx: Unknown", "Hx: Unknown", "Sx: Unknown")


def _challenge_folder(root):
    """Records from four sources, in per-source sub-folders as the Challenge ships them."""
    records = {
        "training/cpsc_2018/g1/A0001": ("74", "Male", "164865005,426783006"),
        "training/cpsc_2018/g1/A0002": ("NaN", "Female", "59118001"),
        "training/georgia/g1/E00001": ("61", "Unknown", "713427006,164889003"),
        "training/ptb-xl/g1/HR00001": ("35", "Female", "426783006"),
        "training/chapman_shaoxing/g1/JS00001": ("80", "Male", "54329005,284470004"),
    }
    for path, (age, sex, dx) in records.items():
        folder, name = (root / path).parent, path.rsplit("/", 1)[-1]
        comments = (f"Age: {age}", f"Sex: {sex}", f"Dx: {dx}", *CHALLENGE_COMMENTS)
        write_record(folder, name, ecg_like(500, 10), 500, comments=comments)
    return root


def test_challenge_records_split_by_source_prefix_with_snomed_labels_and_demographics(tmp_path):
    root = _challenge_folder(tmp_path)

    dataset = load_dataset(root, tasks=("mi", "challenge30"), cache=False, progress=False)

    assert dataset.layout == "challenge"
    assert dataset.hospitals == ["A", "E", "HR", "JS"]
    by_name = {r.record.rsplit("/", 1)[-1]: i for i, r in enumerate(dataset.records)}
    mi = dataset.labels["mi"][:, 0]
    assert {name: mi[i] for name, i in by_name.items()} == {
        "A0001": 1.0,
        "A0002": 0.0,
        "E00001": 0.0,
        "HR00001": 0.0,
        "JS00001": 1.0,
    }
    names = dataset.label_names["challenge30"]
    rbbb, pac = names.index("RBBB"), names.index("PAC")
    # 59118001 and 713427006 are the same diagnosis for the Challenge, as are 284470004 and 63593006
    assert dataset.labels["challenge30"][[by_name["A0002"], by_name["E00001"]], rbbb].tolist() == [1.0, 1.0]
    assert dataset.labels["challenge30"][by_name["JS00001"], pac] == 1.0
    ages = {name: dataset.clinical[i, 0] for name, i in by_name.items()}
    assert ages["A0001"] == 74.0 and math.isnan(ages["A0002"])
    assert [dataset.records[by_name[n]].sex for n in ("A0001", "A0002", "E00001")] == ["M", "F", None]
    assert dataset.records[by_name["A0002"]].flags == ("missing age",)
    assert dataset.records[by_name["E00001"]].flags == ("missing sex",)
    assert dataset.records[by_name["A0001"]].patient_id == "training/cpsc_2018/g1/A0001"


def test_challenge_records_split_by_sub_folder(tmp_path):
    root = _challenge_folder(tmp_path)
    write_record(root, "A0099", ecg_like(500, 10), 500, comments=("Age: 50", "Sex: Male", "Dx: 426783006"))

    dataset = load_dataset(root, hospital_by="dir", cache=False, progress=False)

    assert dataset.hospitals == ["training"]
    assert dataset.skipped[0].record == "A0099"
    assert dataset.skipped[0].reason == "not inside a hospital sub-folder (--hospital-by dir)"


def test_challenge_header_without_dx_is_skipped(tmp_path):
    root = _challenge_folder(tmp_path)
    write_record(root / "extra", "Q0001", ecg_like(500, 10), 500, comments=("Age: 50", "Sex: Male"))

    dataset = load_dataset(root, cache=False, progress=False)

    assert len(dataset) == 5
    assert [(s.record, s.reason, s.hospital) for s in dataset.skipped] == [
        ("extra/Q0001", "no #Dx line in header", "Q")
    ]


def test_challenge_header_and_mat_file_exactly_as_distributed(tmp_path):
    rng = np.random.default_rng(0)
    val = rng.integers(-3000, 3000, size=(12, 7500)).astype(np.int16)
    # MATLAB v4, as in the Challenge: a 20-byte matrix header plus the name "val\0" puts the samples at
    # byte 24, stored column by column, i.e. the 12 leads interleaved like WFDB format 16.
    scipy.io.savemat(tmp_path / "A0001.mat", {"val": val}, format="4")
    assert (tmp_path / "A0001.mat").stat().st_size == 24 + val.size * 2
    lines = ["A0001 12 500 7500 05-Feb-2020 11:39:16"]
    for lead, name in enumerate(("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")):
        checksum = (int(val[lead].astype(np.int64).sum()) + 32768) % 65536 - 32768
        lines.append(f"A0001.mat 16+24 1000/mV 16 0 {val[lead, 0]} {checksum} 0 {name}")
    lines += ["#Age: 74", "#Sex: Male", "#Dx: 164865005,426783006", *(f"#{c}" for c in CHALLENGE_COMMENTS)]
    (tmp_path / "A0001.hea").write_text("\n".join(lines) + "\n")

    dataset = load_dataset(tmp_path, sample_rate=500, duration_s=15.0, cache=False, progress=False)

    assert (dataset.layout, dataset.hospitals, len(dataset)) == ("challenge", ["A"], 1)
    np.testing.assert_allclose(dataset.signals[0], val / 1000.0, atol=1e-6)  # 1000 adu/mV
    assert dataset.labels["mi"].tolist() == [[1.0]]
    record = dataset.records[0]
    assert (record.age, record.sex, record.source_rate) == (74.0, "M", 500.0)


def _plain_folder(root):
    """Two hospitals in sub-folders; site_b writes its leads in another order, spelling and unit."""
    signal = ecg_like(250, 10)
    write_record(root / "site_a", "r1", signal, 250)
    write_record(root / "site_a", "r2", signal, 250)
    shuffled = [11, 3, 0, 7, 5, 1, 9, 2, 10, 4, 8, 6]
    write_record(
        root / "site_b",
        "r3",
        signal[:, shuffled] * 1000,
        250,
        sig_names=[LEADS[i].lower() for i in shuffled],
        units="uV",
        gain=1.0,
    )
    write_record(root / "site_b", "unlisted", signal, 250)
    (root / "labels.csv").write_text(
        "record,patient,age,sex,codes,smoking,diabetes\n"
        "site_a/r1,p1,60,M,IMI;SR,yes,0\n"
        'site_a/r2,p1,61,male,"164865005,426783006",,1\n'
        "site_b/r3,p2,,F,NORM,no,no\n"
        "site_b/r4,p3,50,F,NORM,no,no\n"
        "site_b/r5,p4,50,X,NORM,no,no\n"
    )
    return root, signal


def test_plain_folder_with_labels_csv(tmp_path):
    root, signal = _plain_folder(tmp_path)

    dataset = load_dataset(root, sample_rate=250, progress=False, cache=False)

    assert dataset.layout == "plain"
    assert dataset.hospitals == ["site_a", "site_b"]
    assert [r.record for r in dataset.records] == ["site_a/r1", "site_a/r2", "site_b/r3"]
    assert dataset.labels["mi"][:, 0].tolist() == [1.0, 1.0, 0.0]  # SCP in r1, SNOMED in r2
    assert [r.patient_id for r in dataset.records] == ["p1", "p1", "p2"]
    assert dataset.clinical_names == ("age", "sex_male", "smoking", "diabetes")
    np.testing.assert_array_equal(dataset.clinical[0], [60, 1, 1, 0])
    assert math.isnan(dataset.clinical[1, 2]) and math.isnan(dataset.clinical[2, 0])
    # lower-case, shuffled, microvolt leads come back in standard order and millivolts
    np.testing.assert_allclose(dataset.signals[2], signal.T, atol=1e-3)
    assert {(s.record, s.reason) for s in dataset.skipped} == {
        ("site_b/r4", "unreadable: site_b/r4.hea: file not found"),
        ("site_b/r5", "unreadable metadata row 6: sex 'X' is not male/female"),
        ("site_b/unlisted", "no row in labels.csv"),
    }
    assert dataset.records_found == 6


def test_census_counts_per_hospital(tmp_path):
    root, _ = _plain_folder(tmp_path)

    summary = census(load_dataset(root, progress=False, cache=False))

    assert summary["hospitals"]["site_a"] == {
        "records": 2,
        "patients": 1,
        "skipped": 0,
        "positives": {"mi": 2},
        "sampling_rates": {"250": 2},
    }
    assert summary["hospitals"]["site_b"]["skipped"] == 3
    assert (summary["records"], summary["usable"], len(summary["skipped"])) == (6, 3, 3)
    assert summary["flags"] == {"missing age": 1}


def test_plain_folder_as_one_named_hospital(tmp_path):
    root, _ = _plain_folder(tmp_path)

    dataset = load_dataset(root, hospital_by="none", hospital_name="st-olav", progress=False, cache=False)

    assert dataset.hospitals == ["st-olav"]


def test_unknown_layout_and_unsupported_split_are_data_errors(tmp_path):
    write_record(tmp_path, "r1", ecg_like(250, 10), 250)
    with pytest.raises(DataError, match=r"cannot tell the layout.*name it with --layout"):
        load_dataset(tmp_path, progress=False)
    root, _ = _plain_folder(tmp_path / "plain")
    with pytest.raises(DataError, match="--hospital-by site does not apply to the plain layout"):
        load_dataset(root, hospital_by="site", progress=False)


def test_naming_a_layout_whose_metadata_is_missing_is_a_data_error(tmp_path):
    write_record(tmp_path, "r1", ecg_like(250, 10), 250)

    with pytest.raises(DataError, match=r"no ptbxl_database\.csv, so this is not a PTB-XL folder"):
        load_dataset(tmp_path, layout="ptbxl", progress=False)
    with pytest.raises(DataError, match=r"no labels\.csv, which the plain WFDB layout needs"):
        load_dataset(tmp_path, layout="plain", progress=False)
