"""Fixtures shared by the whole suite: where the real PTB-XL subset lives and a per-session cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from federated import HOSPITAL_IDS, LOHO_HOSPITAL_IDS, federated_run

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The 500 real PTB-XL records provided beside the repository; CARDIOFED_PTBXL500 overrides the path.
PTBXL500 = Path(os.environ.get("CARDIOFED_PTBXL500", REPO_ROOT.parent / "shared" / "data" / "ptbxl500"))


@pytest.fixture(scope="session")
def ptbxl500() -> Path:
    """Path to the real PTB-XL subset; the suite requires it (CI provides it beside the checkout)."""
    if not (PTBXL500 / "ptbxl_database.csv").is_file():
        pytest.fail(f"PTB-XL subset not found at {PTBXL500}; set CARDIOFED_PTBXL500 to its folder")
    return PTBXL500


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One preprocessed-data cache for the whole session, never the user's own cache."""
    os.environ["CARDIOFED_CACHE_DIR"] = str(tmp_path_factory.mktemp("cardiofed-cache"))


def _generate(out: Path, hospitals: int) -> Path:
    """`hospitals` synthetic hospitals (PTB-XL layout, 100 Hz, 70 records each) in `out`."""
    from shared.data.synthetic import generate_hospitals

    generate_hospitals(
        out, hospitals=hospitals, records_per_hospital=70, layout="ptbxl", seed=11, sample_rate=100
    )
    return out


@pytest.fixture(scope="session")
def synthetic_hospitals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic hospitals of the pooled, centralised and local runs."""
    return _generate(tmp_path_factory.mktemp("synthetic") / "hospitals", len(HOSPITAL_IDS))


@pytest.fixture(scope="session")
def loho_hospitals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic hospitals for the LOHO runs, so that every fold trains on three."""
    return _generate(tmp_path_factory.mktemp("synthetic-loho") / "hospitals", len(LOHO_HOSPITAL_IDS))


@pytest.fixture(scope="session")
def loho_run(loho_hospitals: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One LOHO run (with federated lead importance) that the federation and report tests both inspect."""
    run_dir = tmp_path_factory.mktemp("loho")
    return run_dir, federated_run(loho_hospitals, run_dir, protocol="loho", **{"lead-importance": True})


@pytest.fixture(scope="session")
def pooled_run(
    synthetic_hospitals: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """One FedAvg `pooled` run that validates only after its last round (`evaluate-every` 2 of 2 rounds)."""
    run_dir = tmp_path_factory.mktemp("pooled")
    return run_dir, federated_run(synthetic_hospitals, run_dir, protocol="pooled", **{"evaluate-every": 2})
