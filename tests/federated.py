"""Support for tests that run real federations: fast settings and a one-call simulated run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.launcher import run_simulation

#: The suite's synthetic hospitals (tests/conftest.py), as the federation names them: three, the fewest that
#: give a federation more than one pair of hospitals, for the pooled, centralised and local runs.
HOSPITAL_IDS = ("0", "1", "2")
#: The shared LOHO run's hospitals: four, so each fold trains on three.
LOHO_HOSPITAL_IDS = ("0", "1", "2", "3")

#: Fast settings for real federated runs in tests (a few seconds of training per run on 2 cores).
FAST_RUN: dict[str, Any] = {
    "task": "mi",
    "model": "resnet1d",
    "rounds": 2,
    "local-epochs": 1,
    "batch-size": 32,
    "learning-rate": 0.003,
    "hospital-by": "site",
    "seed": 7,
}


def federated_run(data: Path, run_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A real `flwr run` simulation with the fast settings; returns results.json."""
    config = {**FAST_RUN, "data-path": str(data), "run-dir": str(run_dir), **overrides}
    return json.loads(run_simulation(config).read_text())
