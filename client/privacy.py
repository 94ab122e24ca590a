"""Differential privacy the hospital controls: DP-SGD with Opacus and a privacy ledger that outlives runs.

The coordinator asks for a target (epsilon, delta) for the whole experiment and says how many train rounds
it will ask of this hospital (in LOHO: every round of every fold it trains in). The hospital chooses its
own noise multiplier so that all of them together stay within the target, records every DP training in
`privacy_ledger.jsonl` in its state folder, and computes its spent epsilon from the whole ledger with
Opacus' RDP accountant. A request that would take the ledger past the hospital's own cap (`max-epsilon`
in its node config) is refused before any training, and the ledger is left untouched.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

# Opacus is imported where it is used: it adds about 1.5 s of CPU to the start of every process that imports
# this module, and a deployed hospital starts one ClientApp process per message, most of them without DP.

LEDGER_FILE = "privacy_ledger.jsonl"


@dataclass(frozen=True)
class DPTraining:
    """One DP-SGD training as the accountant sees it: Poisson sampling rate, noise and number of steps."""

    noise_multiplier: float
    sample_rate: float
    steps: int


class PrivacyRefused(RuntimeError):
    """Training would take the hospital past its own epsilon cap."""


class PrivacyLedger:
    """Every DP training a hospital ran, across runs, folds and rounds (JSON lines, append-only)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LEDGER_FILE

    def trainings(self) -> list[DPTraining]:
        """The ledger's trainings in order."""
        return [DPTraining(e["noise_multiplier"], e["sample_rate"], e["steps"]) for e in self.entries()]

    def entries(self) -> list[dict]:
        """The full entries (with run, fold, round and time)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def epsilon(self, delta: float, planned: DPTraining | None = None) -> float:
        """Epsilon at `delta` of everything in the ledger (plus `planned`, to check a request first)."""
        return epsilon_of([*self.trainings(), *([planned] if planned else [])], delta)

    def record(
        self, training: DPTraining, *, run: int, fold: str | None, server_round: int, delta: float
    ) -> None:
        """Append one finished training."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            **asdict(training),
            "run": run,
            "fold": fold,
            "round": server_round,
            "delta": delta,
            "time": time.time(),
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


def epsilon_of(trainings: list[DPTraining], delta: float) -> float:
    """Opacus' RDP epsilon of a sequence of DP trainings (0 when there are none)."""
    if not trainings:
        return 0.0
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(t.noise_multiplier, t.sample_rate, t.steps) for t in trainings]
    return float(accountant.get_epsilon(delta))


def plan_training(
    train_records: int,
    batch_size: int,
    local_epochs: int,
    planned_rounds: int,
    target_epsilon: float,
    delta: float,
) -> DPTraining:
    """This round's DP training, with the noise that keeps all `planned_rounds` rounds within the target.

    Opacus' Poisson sampling uses sample rate 1 / (batches per epoch) and that many steps per epoch.
    """
    from opacus.accountants.utils import get_noise_multiplier

    batches = max(1, math.ceil(train_records / batch_size))
    sample_rate = 1.0 / batches
    steps = local_epochs * batches
    noise = get_noise_multiplier(
        target_epsilon=target_epsilon,
        target_delta=delta,
        sample_rate=sample_rate,
        steps=steps * planned_rounds,
        accountant="rdp",
    )
    return DPTraining(noise_multiplier=float(noise), sample_rate=sample_rate, steps=steps)


def check_cap(ledger: PrivacyLedger, planned: DPTraining, delta: float, max_epsilon: float | None) -> None:
    """Raise PrivacyRefused when `planned` would take the ledger past `max_epsilon`."""
    if max_epsilon is None:
        return
    after = ledger.epsilon(delta, planned)
    if after > max_epsilon:
        raise PrivacyRefused(
            f"training would raise this hospital's epsilon to {after:.2f} (delta {delta:g}), "
            f"above its cap of {max_epsilon:g}; spent so far {ledger.epsilon(delta):.2f}"
        )


def noise_only_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Take the DP-SGD step of an empty Poisson batch: no gradient, but the noise all the same.

    Skipping it would make the released model depend on whether the batch happened to be empty, which the
    accountant does not allow for; Opacus' faster per-sample modes cannot run a forward pass on zero samples.
    """
    for parameter in model.parameters():
        if parameter.requires_grad:
            # Opacus reads per-sample gradients from this attribute it adds to parameters.
            parameter.grad_sample = torch.zeros(0, *parameter.shape, device=parameter.device)  # type: ignore[attr-defined]
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def make_private(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    training: DPTraining,
    max_grad_norm: float,
    seed: int,
) -> tuple[torch.nn.Module, torch.optim.Optimizer, DataLoader]:
    """Wrap model, optimizer and loader for DP-SGD (per-sample clipping, Gaussian noise, Poisson sampling).

    The returned module trains the same parameters as `model`, so `model.state_dict()` is the update.
    """
    from opacus import PrivacyEngine

    engine = PrivacyEngine(accountant="rdp")
    private_model, private_optimizer, private_loader = engine.make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        noise_multiplier=training.noise_multiplier,
        max_grad_norm=max_grad_norm,
        poisson_sampling=True,
        noise_generator=torch.Generator().manual_seed(seed),
        grad_sample_mode=getattr(model, "opacus_grad_sample_mode", "hooks"),
    )
    return private_model, private_optimizer, private_loader
