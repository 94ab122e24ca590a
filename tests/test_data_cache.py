"""The preprocessed cache: a hit parses no WFDB file, any input change or setting change misses."""

from __future__ import annotations

import os

import numpy as np
import pytest
import wfdb
from test_data_builders import mini_ptbxl

from shared.data import load_dataset
from shared.data.cache import cache_root


def _refuse_to_parse(*args, **kwargs):
    raise AssertionError("a cache hit must not read WFDB files")


@pytest.fixture
def small_ptbxl(ptbxl500, tmp_path):
    return mini_ptbxl(tmp_path / "ptbxl", ptbxl500, range(1, 9))


def test_second_load_comes_from_the_cache_without_parsing(small_ptbxl, monkeypatch):
    first = load_dataset(small_ptbxl, progress=False)
    monkeypatch.setattr(wfdb, "rdrecord", _refuse_to_parse)
    monkeypatch.setattr(wfdb, "rdheader", _refuse_to_parse)

    second = load_dataset(small_ptbxl, progress=False)

    assert isinstance(second.signals, np.memmap)
    np.testing.assert_array_equal(np.asarray(first.signals), np.asarray(second.signals))
    assert second.records == first.records and second.skipped == first.skipped
    np.testing.assert_array_equal(second.labels["mi"], first.labels["mi"])
    np.testing.assert_array_equal(second.clinical, first.clinical)
    assert (second.clinical_names, second.records_found) == (first.clinical_names, first.records_found)


def test_a_changed_input_file_or_setting_misses_the_cache(small_ptbxl, monkeypatch):
    load_dataset(small_ptbxl, progress=False)
    header = small_ptbxl / "records100" / "00000" / "00003_lr.hea"
    os.utime(header, ns=(header.stat().st_atime_ns, header.stat().st_mtime_ns + 1_000_000))
    parsed = []
    real_rdrecord = wfdb.rdrecord
    monkeypatch.setattr(wfdb, "rdrecord", lambda *a, **k: parsed.append(a[0]) or real_rdrecord(*a, **k))

    load_dataset(small_ptbxl, progress=False)
    load_dataset(small_ptbxl, sample_rate=50, progress=False)

    assert len(parsed) == 16  # every record re-read after the touch, and again at another rate


def test_cache_entries_are_complete_folders(small_ptbxl):
    load_dataset(small_ptbxl, progress=False)

    entries = list(cache_root().iterdir())
    assert entries and not [e for e in entries if e.name.startswith(".")]  # no staging folder left behind
    assert all((e / "metadata.json").is_file() and (e / "signals.npy").is_file() for e in entries)


def test_cache_can_be_turned_off(small_ptbxl, monkeypatch, tmp_path):
    monkeypatch.setenv("CARDIOFED_CACHE_DIR", str(tmp_path / "unused"))

    dataset = load_dataset(small_ptbxl, cache=False, progress=False)

    assert len(dataset) == 8 and not (tmp_path / "unused").exists()
