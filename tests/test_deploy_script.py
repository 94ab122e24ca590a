"""`deploy/local-federation.sh`, the README's deployment steps end to end, as a new site would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

REPO = Path(__file__).resolve().parents[1]


def test_local_federation_runs_loho_through_tls_and_shuts_down(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run(
        [REPO / "deploy" / "local-federation.sh", tmp_path, "--rounds", "1", "--records-per-hospital", "24"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [fold["held_out"] for fold in results["folds"]] == ["east", "north", "south"]
    for hospital in ("east", "north", "south"):
        assert (tmp_path / "hospitals" / hospital / "state" / "audit.jsonl").is_file()
    assert completed.stdout.count("epsilon spent") == 3  # `cardiofed hospital privacy` for each site
    assert "local federation done" in completed.stdout
