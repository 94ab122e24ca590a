"""Checkpoints after every round, so an interrupted run resumes exactly where it stopped.

A checkpoint holds the protocol's whole state: finished folds, the current fold and round, the global
model, the strategy object (FedAdam's moments, FedAvgM's momentum), the round history and the server's RNG
state. Clients derive their seeds from (seed, fold, round, hospital), so resuming replays nothing and
ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
from pathlib import Path
from typing import Any

from shared.config import RunConfig


class CheckpointMismatch(RuntimeError):
    """A checkpoint belongs to a different experiment configuration than the one resuming it."""


def config_fingerprint(config: RunConfig) -> str:
    """Hash of everything that shapes the results (the resume flag and timeouts do not)."""
    values = config.to_dict()
    for volatile in ("resume", "round_timeout_s", "run_dir", "expected_hospitals", "hospital_state_dir"):
        values.pop(volatile)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


class Checkpoints:
    """The run's latest checkpoint file (`RUN_DIR/checkpoint.pkl`), written atomically."""

    def __init__(self, run_dir: Path, config: RunConfig) -> None:
        self.path = run_dir / "checkpoint.pkl"
        self.fingerprint = config_fingerprint(config)

    def save(self, state: dict[str, Any]) -> None:
        """Replace the checkpoint with `state` (plus the server RNG state and config fingerprint)."""
        payload = {"fingerprint": self.fingerprint, "random": random.getstate(), "state": state}
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(payload, handle)
        os.replace(tmp, self.path)

    def load(self) -> dict[str, Any] | None:
        """The saved state (restoring the RNG), or None when there is no checkpoint."""
        if not self.path.is_file():
            return None
        # The checkpoint is written by this run's own coordinator into its own run folder.
        with self.path.open("rb") as handle:
            payload = pickle.load(handle)
        if payload["fingerprint"] != self.fingerprint:
            raise CheckpointMismatch(
                f"{self.path} was written by a run with a different configuration; "
                "resume with the same settings or choose a new --out"
            )
        random.setstate(payload["random"])
        return payload["state"]
