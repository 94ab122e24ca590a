"""Federation overhead: R FedAvg rounds of E local epochs on H simulated hospitals vs a plain PyTorch loop.

The plain loop trains the same model for the same R x E epochs on the same records (the union of the
hospitals' training splits) with the hospitals' own training loop (client/training.py), in this process.
It runs in two halves, one before and one after the federated run, so that a change in how busy the machine
is affects both sides alike. `federation_overhead_ratio` is the wall time of the federated rounds (from the
census to the end of the last round, validation included) over the plain loop's; start-up (SuperLink, Ray,
census) is reported separately and in `federation_overhead_ratio_including_startup`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.timeline import TimedRun, phases, timed_simulation
from client.site import pooled_training_data, split_of
from client.training import make_loader, make_optimizer, train_epochs, training_device
from server.launcher import experiment_config
from shared.config import RunConfig
from shared.data.synthetic import generate_hospitals
from shared.experiment import build_model


@dataclass(frozen=True)
class OverheadSize:
    """How big the benchmark federation is: hospitals, records per hospital, rounds and local epochs."""

    hospitals: int
    records_per_hospital: int
    rounds: int
    local_epochs: int


FULL = OverheadSize(hospitals=4, records_per_hospital=500, rounds=20, local_epochs=2)
QUICK = OverheadSize(hospitals=4, records_per_hospital=60, rounds=3, local_epochs=1)
SETTINGS: dict[str, Any] = {
    "protocol": "pooled",
    "strategy": "fedavg",
    "task": "mi",
    "model": "resnet1d",
    "batch-size": 32,
    "learning-rate": 0.001,
    "sample-rate": 100,
    "hospital-by": "site",
    "seed": 0,
}
SYNTHETIC_SEED = 5


class PlainLoop:
    """The same model trained on the pooled training records in this process, one round's epochs at a time."""

    def __init__(self, config: RunConfig) -> None:
        data = pooled_training_data(config)
        # Splits hash the patient id alone: the pooled train split is the union of the hospitals' ones.
        self.data = data.subset(split_of(data, config.seed) == "train")
        self.config = config
        self.device = training_device()
        torch.manual_seed(config.seed)
        self.model = build_model(config, clinical_features=len(self.data.clinical_names))
        self.loader = make_loader(self.data, config.tasks, config.batch_size, config.seed, shuffle=True)
        self.seconds = 0.0
        self.rounds_done = 0

    def train(self, rounds: int) -> None:
        """Train `rounds` x local-epochs epochs (a fresh optimiser per round, as each FedAvg round has)."""
        started = time.perf_counter()
        for _ in range(rounds):
            optimizer = make_optimizer(self.model, self.config)
            train_epochs(self.model, self.loader, optimizer, self.config, self.device)
        self.seconds += time.perf_counter() - started
        self.rounds_done += rounds


def federation_config(data: Path, run_dir: Path, size: OverheadSize) -> dict[str, Any]:
    """The benchmark federation's run config: validation only after the last round (see communication)."""
    return {
        **SETTINGS,
        "data-path": str(data),
        "run-dir": str(run_dir),
        "rounds": size.rounds,
        "local-epochs": size.local_epochs,
        "evaluate-every": size.rounds,
    }


def measure(scratch: Path, size: OverheadSize, say: Callable[[str], None]) -> tuple[dict[str, Any], TimedRun]:
    """Run the federation and the plain loop; returns the figures and the federated run (communication's)."""
    data = scratch / "overhead-hospitals"
    generate_hospitals(
        data,
        hospitals=size.hospitals,
        records_per_hospital=size.records_per_hospital,
        seed=SYNTHETIC_SEED,
        sample_rate=100,
    )
    config_dict = federation_config(data, scratch / "overhead-run", size)
    plain = PlainLoop(experiment_config(config_dict))
    first_half = size.rounds // 2
    plain.train(first_half)
    say(f"plain loop: {first_half} of {size.rounds} rounds in {plain.seconds:.1f} s; now the federation")
    run = timed_simulation(config_dict)
    plain.train(size.rounds - first_half)
    breakdown = phases(run)
    ratio = breakdown["rounds_s"] / plain.seconds
    including_startup = (breakdown["startup_s"] + breakdown["rounds_s"]) / plain.seconds
    say(
        f"federation overhead {ratio:.3f}x ({breakdown['rounds_s']:.1f} s of rounds vs {plain.seconds:.1f} s "
        f"plain), {including_startup:.3f}x with {breakdown['startup_s']:.1f} s start-up"
    )
    figures = {
        "what": "pooled FedAvg on synthetic hospitals vs the same epochs in a plain PyTorch loop",
        "size": {
            "hospitals": size.hospitals,
            "records_per_hospital": size.records_per_hospital,
            "training_records": len(plain.data),
            "rounds": size.rounds,
            "local_epochs": size.local_epochs,
            "evaluate_every": size.rounds,
            **{key: value for key, value in SETTINGS.items() if key in ("model", "batch-size")},
        },
        "ratio": round(ratio, 3),
        "ratio_definition": "federated rounds wall time (census -> end of last round, its validation "
        "included) / plain loop wall time",
        "ratio_including_startup": round(including_startup, 3),
        "ratio_including_startup_definition": "(start-up + federated rounds) / plain loop wall time",
        # Both sides of this one come from the same run, so a busy machine changes them alike.
        "ratio_vs_hospital_training": round(
            breakdown["rounds_s"] / breakdown["rounds"]["hospital_training_s"], 3
        ),
        "ratio_vs_hospital_training_definition": "federated rounds wall time / the hospitals' own "
        "training time in those rounds (the same loop as the plain one)",
        "plain_loop_s": round(plain.seconds, 2),
        "plain_loop_ecg_per_s": round(len(plain.data) * size.rounds * size.local_epochs / plain.seconds, 1),
        "federated": breakdown,
        "goal": "ratio <= 1.10",
    }
    return figures, run
