"""Differential privacy in real federated runs: the target holds, and a hospital's cap holds across runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from federated import federated_run

from client.privacy import PrivacyLedger
from shared.data.synthetic import generate_hospitals

pytestmark = pytest.mark.slow

TARGET_EPSILON = 3.0
DELTA = 1e-5


@pytest.fixture(scope="module")
def three_hospitals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dp-data") / "hospitals"
    generate_hospitals(out, hospitals=3, records_per_hospital=40, seed=21, sample_rate=100)
    return out


def test_dp_loho_stays_within_target_and_a_capped_second_run_is_refused(
    three_hospitals: Path, tmp_path: Path
) -> None:
    state = tmp_path / "hospital-state"  # the hospitals' own folders, kept across both runs
    dp = {
        "dp": True,
        "epsilon": TARGET_EPSILON,
        "delta": DELTA,
        "local-epochs": 1,
        "hospital-state-dir": str(state),
    }
    first = federated_run(three_hospitals, tmp_path / "first", protocol="loho", **dp)

    ledgers = {}
    for hospital, spent in first["privacy"]["hospitals"].items():
        ledger = PrivacyLedger(state / hospital)
        entries = ledger.entries()
        # LOHO with 3 hospitals and 2 rounds: each hospital trains in the 2 folds that are not its own
        assert len(entries) == 2 * 2 and {e["fold"] for e in entries} == set(first["hospitals"]) - {hospital}
        assert ledger.epsilon(DELTA) <= TARGET_EPSILON
        assert spent["epsilon"] == pytest.approx(ledger.epsilon(DELTA))
        assert spent["refused"] == []
        ledgers[hospital] = ledger.path.read_bytes()

    # A cap just above what each hospital already spent: any further DP training would cross it.
    cap = round(max(s["epsilon"] for s in first["privacy"]["hospitals"].values()) + 0.001, 4)
    capped = {**dp, "rounds": 1, "hospital-max-epsilon": cap}
    second = federated_run(three_hospitals, tmp_path / "second", protocol="loho", **capped)
    for hospital, spent in second["privacy"]["hospitals"].items():
        assert len(spent["refused"]) == 2, hospital  # both folds it would have trained in
        assert all(f"above its cap of {cap:g}" in refusal["reason"] for refusal in spent["refused"])
        assert (state / hospital / "privacy_ledger.jsonl").read_bytes() == ledgers[hospital]
    refused_rounds = [r for fold in second["folds"] for r in fold["rounds"] if r["refused"]]
    assert refused_rounds and all(not r["trained"] for r in refused_rounds)
