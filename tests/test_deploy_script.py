"""`deploy/local-federation.sh`, the README's deployment steps end to end, as a new site would run them.

A SuperLink and three SuperNodes over TLS with node authentication, as separate processes: part of
`make test` (small data, 1 round per fold: the deployment path is the same every round, and several rounds
over real processes are the fault suite's, tests/test_deploy.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

REPO = Path(__file__).resolve().parents[1]
HOSPITALS = ["east", "north", "south"]


def _processes_marked(marker: str) -> list[int]:
    """Processes whose environment holds `marker`: whatever the script started, however detached."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # exited, or not ours to read
            continue
    return found


@pytest.mark.timeout(900)  # about 2 min on 2 idle cores, longer when they are shared
def test_local_federation_runs_loho_through_tls_and_shuts_down(tmp_path: Path) -> None:
    marker = f"CARDIOFED_TEST_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        name: value,  # inherited by every process the script starts, Flower's included
    }
    completed = subprocess.run(
        # inception1d: the smallest model (76k parameters), so the TLS links carry the fewest bytes
        [REPO / "deploy" / "local-federation.sh", tmp_path, "--rounds", "1", "--records-per-hospital", "24",
         "--model", "inception1d"],
        env=env, capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [fold["held_out"] for fold in results["folds"]] == HOSPITALS
    assert all([r["round"] for r in fold["rounds"]] == [1] for fold in results["folds"])
    assert (tmp_path / "run" / "report.html").is_file()
    for hospital in HOSPITALS:
        audit = tmp_path / "hospitals" / hospital / "state" / "audit.jsonl"
        entries = [json.loads(line) for line in audit.read_text().splitlines()]
        assert {entry["type"] for entry in entries} == {"run", "query", "train", "evaluate"}
        assert [entry["decision"] for entry in entries if entry["type"] == "run"] == ["approved"]
        assert f"{hospital}: 24 of 24 records usable" in completed.stdout  # `cardiofed data check`
        assert f"{hospital}: 0 DP training(s), epsilon spent 0.000" in completed.stdout  # `hospital privacy`
        assert f"{hospital}: 1 approved app(s), 0 refused run(s)" in completed.stdout  # `hospital apps`
    assert "local federation done" in completed.stdout
    assert _processes_marked(marker) == []  # SuperLink, SuperNodes and every app process they ran
