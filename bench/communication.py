"""Communication: bytes each hospital sends and receives per round, against the model's parameter bytes.

The figures come from the hospitals' audit logs, which record the serialised size of every message a
hospital received and of every reply it sent. A training round is what a hospital exchanges between the
census and the end of the last round: the train message and its update, plus the validation messages of
the rounds that had one (`evaluate-every`). The census and the final test evaluation happen once per run,
whatever the number of rounds, and are reported beside it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.timeline import TimedRun, timed_simulation
from client.site import pooled_training_data
from server.launcher import experiment_config
from shared.experiment import build_model


def parameter_bytes(config_dict: dict[str, Any]) -> int:
    """Bytes of the run's model parameters (trainable tensors only, as stored)."""
    config = experiment_config(config_dict)
    clinical_features = len(pooled_training_data(config).clinical_names)
    model = build_model(config, clinical_features=clinical_features)
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def traffic(run: TimedRun) -> dict[str, Any]:
    """Per hospital and round: bytes received and sent, and their sum over the parameter bytes."""
    rounds = run.results["config"]["rounds"]
    last_round_end = run.round_times[-1]
    per_hospital: dict[str, dict[str, Any]] = {}
    for hospital, entries in run.audit().items():
        in_rounds = [e for e in entries if e["type"] != "query" and e["time"] <= last_round_end]
        once = [e for e in entries if e not in in_rounds]
        received = sum(e["received_bytes"] for e in in_rounds) / rounds
        sent = sum(e["sent_bytes"] for e in in_rounds) / rounds
        per_hospital[hospital] = {
            "received_per_round": round(received),
            "sent_per_round": round(sent),
            "evaluate_messages_in_rounds": sum(e["type"] == "evaluate" for e in in_rounds),
            "once_per_run_bytes": sum(e["received_bytes"] + e["sent_bytes"] for e in once),
        }
    model_bytes = parameter_bytes(run.config)
    both_ways = statistics.mean(h["received_per_round"] + h["sent_per_round"] for h in per_hospital.values())
    train = [e for entries in run.audit().values() for e in entries if e["type"] == "train"]
    return {
        "parameter_bytes": model_bytes,
        "bytes_per_round_per_hospital": round(both_ways),
        "ratio": round(both_ways / model_bytes, 3),
        # one train message in and its update out: the least a round can cost
        "train_message_ratio": round(
            statistics.mean(e["received_bytes"] + e["sent_bytes"] for e in train) / model_bytes, 3
        ),
        "rounds": rounds,
        "evaluate_every": run.results["config"]["evaluate_every"],
        "per_hospital": per_hospital,
    }


def measure(overhead_run: TimedRun, scratch: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """The benchmark federation's traffic, and the same federation validating after every round."""
    headline = traffic(overhead_run)
    # Bytes per message do not depend on how many records a hospital has: a short run shows the default.
    every_round_config = {
        **overhead_run.config,
        "run-dir": str(scratch / "communication-evaluate-every-1"),
        "rounds": 2,
        "local-epochs": 1,
        "evaluate-every": 1,
    }
    every_round = traffic(timed_simulation(every_round_config))
    say(
        f"bytes per hospital and round: {headline['ratio']:.3f}x the parameter bytes validating once per "
        f"{headline['evaluate_every']} rounds, {every_round['ratio']:.3f}x validating every round"
    )
    return {
        "what": "bytes received + sent per hospital per training round / model parameter bytes "
        "(serialised Flower messages, from the audit logs)",
        "ratio": headline["ratio"],
        "goal": "ratio <= 2.1",
        "benchmark_federation": headline,
        "evaluate_every_1": every_round,
    }
