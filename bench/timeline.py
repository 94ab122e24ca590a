"""A timed federated run, and where its time went, from its progress.jsonl and the hospitals' audit logs.

`progress.jsonl` stamps the census (the federation is up), every round's end and the end of the run; each
hospital's audit log stamps every reply it sent. Together they split a run's wall time into start-up,
training rounds (the hospitals' own training time, what it took to get messages to and from them, and
validation), the final test evaluation and shutdown.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.launcher import run_simulation
from server.progress import read_events


@dataclass(frozen=True)
class TimedRun:
    """A finished simulation: its run config, folder, results.json, progress events, start and end."""

    config: dict[str, Any]  # Flower run-config keys, as given to run_simulation
    run_dir: Path
    results: dict[str, Any]
    events: list[dict[str, Any]]
    launched: float  # time.time() when run_simulation was called
    returned: float  # time.time() when it returned

    @property
    def census_time(self) -> float:
        """When the federation was up: every hospital had answered the census."""
        return next(e["time"] for e in self.events if e["event"] == "census")

    @property
    def round_times(self) -> list[float]:
        """When each round ended (after its validation, when it had one)."""
        return [e["time"] for e in self.events if e["event"] == "round"]

    @property
    def done_time(self) -> float:
        """When results.json was written."""
        return next(e["time"] for e in self.events if e["event"] == "done")

    def audit(self) -> dict[str, list[dict[str, Any]]]:
        """Every hospital's audit log entries, by hospital."""
        return {
            path.parent.name: [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for path in sorted((self.run_dir / "hospitals").glob("*/audit.jsonl"))
        }


def timed_simulation(config: dict[str, Any]) -> TimedRun:
    """Run `config` (Flower run-config keys) as a real simulation and keep its timestamps."""
    launched = time.time()
    results_path = run_simulation(config)
    returned = time.time()
    events, _ = read_events(results_path.parent)
    results = json.loads(results_path.read_text())
    return TimedRun(config, results_path.parent, results, events, launched, returned)


def training_seconds(run: TimedRun) -> float:
    """The hospitals' own training time, summed over hospitals and rounds (they report ECG/s and train once
    over their training split per local epoch)."""
    epochs = run.results["config"]["local_epochs"]
    total = 0.0
    for record in run.results["rounds"]:
        for hospital, rate in record["ecg_per_second"].items():
            examples = run.results["hospitals"][hospital]["census"]["records"]["train"] * epochs
            total += examples / rate if rate > 0 else 0.0
    return total


def phases(run: TimedRun) -> dict[str, Any]:
    """Where the run's wall time went, in seconds (see the module docstring)."""
    train_replies: dict[int, float] = {}
    for entries in run.audit().values():
        for entry in entries:
            if entry["type"] == "train":
                train_replies[entry["round"]] = max(train_replies.get(entry["round"], 0.0), entry["time"])
    round_starts = [run.census_time, *run.round_times[:-1]]
    train_phase = validation_phase = 0.0
    for number, (start, end) in enumerate(zip(round_starts, run.round_times, strict=True), start=1):
        trained = train_replies.get(number, start)
        train_phase += trained - start
        validation_phase += end - trained
    rounds_s = run.round_times[-1] - run.census_time
    training_s = training_seconds(run)
    return {
        "startup_s": round(run.census_time - run.launched, 2),
        "rounds_s": round(rounds_s, 2),
        "rounds": {
            "hospital_training_s": round(training_s, 2),
            # sending the model out and the update back, scheduling the hospitals, setting up each reply
            "messaging_and_dispatch_s": round(train_phase - training_s, 2),
            "aggregation_and_validation_s": round(validation_phase, 2),
        },
        "final_test_evaluation_s": round(run.done_time - run.round_times[-1], 2),
        "shutdown_s": round(run.returned - run.done_time, 2),
        "total_s": round(run.returned - run.launched, 2),
    }
