"""The real PTB-XL subset: acceptance counts through the CLI and through load_dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import wfdb

from shared.commands.cli import main
from shared.data import DataError, load_dataset

# site -> (records, patients, MI positives), from the subset's README
EXPECTED_SITES = {"0": (256, 238, 17), "1": (161, 153, 38), "2": (17, 16, 3), "3": (66, 59, 15)}


@pytest.mark.parametrize("records", ["100", "500"])
def test_data_check_json_reports_the_known_counts(ptbxl500, capsys, records):
    status = main(
        [
            "data",
            "check",
            str(ptbxl500),
            "--hospital-by",
            "site",
            "--task",
            "mi",
            "--records",
            records,
            "--json",
        ]
    )

    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert (report["layout"], report["records"], report["usable"]) == ("ptbxl", 500, 500)
    assert report["skipped"] == []
    hospitals = report["hospitals"]
    observed = {site: (h["records"], h["patients"], h["positives"]["mi"]) for site, h in hospitals.items()}
    assert observed == EXPECTED_SITES
    assert all(h["sampling_rates"] == {records: h["records"]} for h in report["hospitals"].values())
    assert report["flags"] == {"missing age": 4}


def test_data_check_table_ends_with_a_summary_line(ptbxl500, capsys):
    status = main(["data", "check", str(ptbxl500), "--hospital-by", "site"])

    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    assert lines[-1].startswith("500 of 500 records usable in 4 hospitals, 0 skipped")


def test_data_check_on_a_folder_without_records_fails_with_the_path(tmp_path, capsys):
    status = main(["data", "check", str(tmp_path), "--json"])

    assert status == 1
    assert f"{tmp_path}: no WFDB records (*.hea) found" in capsys.readouterr().err


def test_load_dataset_keeps_signals_in_millivolts_and_standard_lead_order(ptbxl500):
    dataset = load_dataset(ptbxl500, hospital_by="site", progress=False)

    assert dataset.signals.shape == (500, 12, 1000) and dataset.signals.dtype == np.float32
    assert dataset.hospitals == ["0", "1", "2", "3"]
    assert int(dataset.labels["mi"].sum()) == 73
    assert len(set(dataset.patient_ids)) == 466
    # The 100 Hz files need no resampling, so the first record is exactly what wfdb reads (header order
    # I, II, III, AVR, AVL, AVF, V1-V6 is the standard order; "AVR" is aVR).
    raw = wfdb.rdrecord(str(ptbxl500 / dataset.records[0].record))
    np.testing.assert_allclose(dataset.signals[0], raw.p_signal.T, atol=1e-6)


def test_missing_ages_are_kept_flagged_and_nan(ptbxl500):
    dataset = load_dataset(ptbxl500, hospital_by="site", progress=False)

    missing = [i for i, r in enumerate(dataset.records) if "missing age" in r.flags]
    assert [dataset.records[i].record.rsplit("/", 1)[-1] for i in missing] == [
        "00108_lr",
        "00255_lr",
        "00256_lr",
        "00346_lr",
    ]
    assert np.isnan(dataset.clinical[missing, 0]).all()
    assert dataset.clinical_names[:2] == ("age", "sex_male")
    assert dataset.clinical[0, :2].tolist() == [56.0, 0.0]  # ecg_id 1: 56 years, sex 1 = female


def test_500_hz_records_resampled_to_100_hz_match_the_100_hz_release(ptbxl500):
    low = load_dataset(ptbxl500, hospital_by="site", records="100", hospital="2", progress=False)
    high = load_dataset(ptbxl500, hospital_by="site", records="500", hospital="2", progress=False)

    assert [r.source_rate for r in high.records] == [500.0] * 17
    for resampled, released in zip(high.signals, low.signals, strict=True):
        for lead in range(12):
            assert np.corrcoef(resampled[lead], released[lead])[0, 1] > 0.95


def test_one_hospital_loads_alone_and_unknown_hospitals_are_named(ptbxl500):
    site = load_dataset(ptbxl500, hospital_by="site", hospital="2", progress=False)

    assert len(site) == 17 and site.hospitals == ["2"]
    with pytest.raises(DataError, match=r"no hospital '9'; known hospitals: 0, 1, 2, 3"):
        load_dataset(ptbxl500, hospital_by="site", hospital="9", progress=False)


def test_several_tasks_are_labelled_together(ptbxl500):
    dataset = load_dataset(
        ptbxl500, hospital_by="site", tasks=("mi", "challenge30"), hospital="3", progress=False
    )

    assert dataset.labels["mi"].shape == (66, 1)
    assert dataset.labels["challenge30"].shape == (66, 26)
    assert dataset.label_names["challenge30"][14] == "NSR"
    assert int(dataset.labels["challenge30"][:, 14].sum()) == 49  # sinus rhythm (SCP "SR")
