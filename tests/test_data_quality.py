"""Corrupt copies of real PTB-XL records: each is skipped with its exact reason, the good ones still load."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import wfdb
from test_data_builders import mini_ptbxl, write_record

from shared.data import load_dataset
from shared.data.quality import FLAT_PEAK_TO_PEAK_MV, check_saturation


def _record_path(root, ecg_id):
    return root / "records100" / "00000" / f"{ecg_id:05d}_lr"


def _rewrite(root, ecg_id, transform):
    """Re-write a record with wfdb after `transform(signal_mv, sig_names) -> (signal_mv, sig_names)`."""
    path = _record_path(root, ecg_id)
    record = wfdb.rdrecord(str(path))
    signal, names = transform(record.p_signal.copy(), list(record.sig_name))
    write_record(path.parent, path.name, signal, record.fs, sig_names=names)


def _edit_csv_row(root, ecg_id, **changes):
    csv_path = root / "ptbxl_database.csv"
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows, columns = list(reader), reader.fieldnames
    for row in rows:
        if int(row["ecg_id"]) == ecg_id:
            row.update(changes)
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _set(column, rows, value):
    def transform(signal, names):
        signal[rows, column] = value
        return signal, names

    return transform


@pytest.fixture(scope="module")
def corrupt_ptbxl(ptbxl500, tmp_path_factory):
    root = mini_ptbxl(tmp_path_factory.mktemp("corrupt"), ptbxl500, range(1, 14))
    dat = _record_path(root, 1).with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    _rewrite(root, 2, lambda signal, names: (signal[:, :10], names[:10]))
    _rewrite(root, 3, _set(7, slice(100, 200), np.nan))
    _rewrite(root, 4, _set(2, slice(None), 0.002))
    _edit_csv_row(root, 5, age="")
    _edit_csv_row(root, 6, scp_codes="{'IMI': 100.0")
    _rewrite(root, 7, _set(0, slice(300, 340), 32.767))  # 0.4 s at the 16-bit ADC maximum (1000 adu/mV)
    _rewrite(root, 8, lambda signal, names: (signal[:300], names))
    header = _record_path(root, 9).with_suffix(".hea")
    lines = header.read_text().splitlines()
    header.write_text("\n".join(["00009_lr 12", *lines[1:]]) + "\n")
    _rewrite(root, 10, lambda signal, names: (np.hstack([signal, signal[:, :1]]), [*names, "RESP"]))
    for suffix in (".hea", ".dat"):
        _record_path(root, 12).with_suffix(suffix).unlink()
    _rewrite(root, 13, lambda signal, names: (signal[:, :11], names[:11]))  # a header naming 11 leads
    return root


def test_every_corrupt_record_is_skipped_with_its_exact_reason(corrupt_ptbxl):
    dataset = load_dataset(corrupt_ptbxl, hospital_by="site", cache=False, progress=False)

    reasons = {s.record.rsplit("/", 1)[-1]: s.reason for s in dataset.skipped}
    assert reasons == {
        "00001_lr": "truncated: 00001_lr.dat has 500 samples, header says 1000",
        "00002_lr": "missing leads: V5, V6",
        "00003_lr": "NaN/Inf samples in lead V2",
        "00004_lr": "flat lead: III",
        "00006_lr": "unreadable metadata row 7: scp_codes is not a dictionary: \"{'IMI': 100.0\"",
        "00007_lr": "saturated lead: I",
        "00008_lr": "too short: 3.0 s (minimum 5.0 s)",
        "00009_lr": "sampling rate missing in header",
        "00012_lr": "unreadable: records100/00000/00012_lr.hea: file not found",
        "00013_lr": "missing lead: V6",
    }
    assert all(s.hospital == "0" for s in dataset.skipped)  # the first PTB-XL records are all site 0
    assert dataset.records_found == 13


def test_good_records_beside_corrupt_ones_still_load_intact(corrupt_ptbxl, ptbxl500):
    dataset = load_dataset(corrupt_ptbxl, hospital_by="site", cache=False, progress=False)

    assert [r.record.rsplit("/", 1)[-1] for r in dataset.records] == ["00005_lr", "00010_lr", "00011_lr"]
    by_name = {r.record.rsplit("/", 1)[-1]: r for r in dataset.records}
    assert by_name["00005_lr"].flags == ("missing age",)
    assert by_name["00010_lr"].flags == ("extra leads ignored",)
    assert by_name["00011_lr"].flags == ()
    original = wfdb.rdrecord(str(_record_path(ptbxl500, 11))).p_signal.T
    np.testing.assert_allclose(dataset.signals[2], original, atol=1e-6)


def test_no_real_ptbxl_lead_comes_near_the_flat_or_saturation_limits(ptbxl500):
    for ecg_id in range(1, 501):
        record = wfdb.rdrecord(str(_record_path(ptbxl500, ecg_id)), physical=False)
        signal = record.dac().T
        assert np.ptp(signal, axis=1).min() > 10 * FLAT_PEAK_TO_PEAK_MV, ecg_id
        assert check_saturation(record.d_signal.T, [(-32767, 32767)] * 12, record.fs) is None, ecg_id


def test_a_broken_csv_is_a_data_error_naming_the_file(tmp_path):
    (tmp_path / "ptbxl_database.csv").write_text("ecg_id,patient_id\n1,2\n")
    (tmp_path / "records100").mkdir()

    with pytest.raises(ValueError, match=r"ptbxl_database.csv: missing columns age, sex, site"):
        load_dataset(tmp_path, progress=False)
