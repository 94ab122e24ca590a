"""The hospital's privacy accounting: epsilon from the ledger, the cap, and the ledger's persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from opacus.accountants import RDPAccountant
from torch.utils.data import DataLoader, TensorDataset

from client.privacy import (
    DPTraining,
    PrivacyLedger,
    PrivacyRefused,
    check_cap,
    epsilon_of,
    make_private,
    noise_only_step,
    plan_training,
)

DELTA = 1e-5


def _opacus_epsilon(trainings: list[DPTraining]) -> float:
    """Opacus' own accountant, stepped once per DP-SGD step as the PrivacyEngine does."""
    accountant = RDPAccountant()
    for training in trainings:
        for _ in range(training.steps):
            accountant.step(noise_multiplier=training.noise_multiplier, sample_rate=training.sample_rate)
    return accountant.get_epsilon(DELTA)


def test_ledger_epsilon_equals_opacus_accountant(tmp_path: Path) -> None:
    ledger = PrivacyLedger(tmp_path)
    trainings = [DPTraining(1.1, 0.05, 40), DPTraining(1.1, 0.05, 40), DPTraining(0.9, 0.1, 20)]
    for index, training in enumerate(trainings):
        ledger.record(training, run=1, fold="0", server_round=index + 1, delta=DELTA)
    assert ledger.epsilon(DELTA) == pytest.approx(_opacus_epsilon(trainings), rel=1e-9)
    assert epsilon_of([], DELTA) == 0.0


def test_planned_noise_keeps_every_planned_round_within_the_target() -> None:
    planned_rounds = 2 * 3  # LOHO with 3 hospitals: each trains in 2 folds of 3 rounds
    training = plan_training(
        train_records=90,
        batch_size=16,
        local_epochs=2,
        planned_rounds=planned_rounds,
        target_epsilon=3.0,
        delta=DELTA,
    )
    assert training.sample_rate == pytest.approx(1 / 6) and training.steps == 12
    spent = epsilon_of([training] * planned_rounds, DELTA)
    assert 2.9 < spent <= 3.0
    # one round more than planned would overspend: the noise is no larger than it needs to be
    assert epsilon_of([training] * (planned_rounds + 1), DELTA) > 3.0


def test_ledger_survives_a_restart_and_the_cap_refuses_without_writing(tmp_path: Path) -> None:
    training = DPTraining(1.0, 0.1, 50)
    PrivacyLedger(tmp_path).record(training, run=1, fold=None, server_round=1, delta=DELTA)
    reopened = PrivacyLedger(tmp_path)  # e.g. the hospital's node restarted
    spent = reopened.epsilon(DELTA)
    assert spent == pytest.approx(_opacus_epsilon([training]))
    before = reopened.path.read_bytes()
    with pytest.raises(PrivacyRefused, match=r"above its cap of"):
        check_cap(reopened, training, DELTA, max_epsilon=spent + 0.01)
    assert reopened.path.read_bytes() == before
    check_cap(reopened, training, DELTA, max_epsilon=None)  # no cap: nothing to refuse
    check_cap(reopened, training, DELTA, max_epsilon=100.0)


def _private(
    model: torch.nn.Module, records: torch.Tensor, batch_size: int, noise: float, clip: float
) -> tuple[torch.nn.Module, torch.optim.Optimizer, DataLoader]:
    """`model` wrapped for DP-SGD by the hospital's own `make_private`, with plain SGD at learning rate 1."""
    loader = DataLoader(TensorDataset(records), batch_size=batch_size)
    training = DPTraining(noise_multiplier=noise, sample_rate=batch_size / len(records), steps=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    return make_private(model, optimizer, loader, training, max_grad_norm=clip, seed=3)


def test_dp_sgd_adds_the_noise_the_plan_implies() -> None:
    """An empty Poisson batch's step is noise alone: N(0, (noise * clip / expected batch)^2) per weight."""
    noise, clip, batch_size = 1.5, 2.0, 10
    model = torch.nn.Linear(20_000, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    private_model, optimizer, _ = _private(model, torch.zeros(100, 20_000), batch_size, noise, clip)
    noise_only_step(private_model, optimizer)
    assert float(model.weight.std()) == pytest.approx(noise * clip / batch_size, rel=0.05)


def test_dp_sgd_clips_each_records_gradient() -> None:
    """Without noise, records with huge gradients move the model by at most the clip per record."""
    clip, batch_size = 0.5, 10
    model = torch.nn.Linear(3, 1, bias=False)
    before = model.weight.detach().clone()
    private_model, optimizer, loader = _private(model, torch.full((100, 3), 1000.0), batch_size, 0.0, clip)
    (batch,) = next(iter(batch for batch in loader if len(batch[0])))
    optimizer.zero_grad()
    private_model(batch).mean().backward()
    optimizer.step()
    moved = float((model.weight.detach() - before).norm())
    # each gradient (norm 1000 * sqrt(3)) is clipped to `clip`, their sum divided by the expected batch
    assert 0.0 < moved <= clip * len(batch) / batch_size + 1e-6
