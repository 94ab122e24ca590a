"""The hospital's local training loop and scoring, readable top to bottom.

One loop serves every protocol: federated rounds, the local-only baseline and the centralised upper bound
(which is simply one node training on the pooled data). Differential privacy wraps the same loop
(see client/privacy.py) instead of duplicating it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from shared.config import RunConfig
from shared.data import ECGDataset
from shared.losses import multitask_loss


def training_device() -> torch.device:
    """The hospital's GPU when it has one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class TrainOutcome:
    """What a local training pass reports (aggregates only)."""

    examples: int
    mean_loss: float
    steps: int
    seconds: float

    @property
    def ecg_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0


def make_loader(
    data: ECGDataset, tasks: tuple[str, ...], batch_size: int, seed: int, shuffle: bool
) -> DataLoader:
    """A DataLoader of (signals, clinical, *labels per task); seeded so an epoch's order is reproducible."""
    tensors = [
        torch.from_numpy(np.ascontiguousarray(data.signals, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(data.clinical, dtype=np.float32)),
    ]
    tensors += [torch.from_numpy(np.ascontiguousarray(data.labels[task], dtype=np.float32)) for task in tasks]
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TensorDataset(*tensors), batch_size=batch_size, shuffle=shuffle, generator=generator)


def make_optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters, fresh each round as is usual in federated learning."""
    return torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=config.learning_rate)


def train_epochs(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    config: RunConfig,
    device: torch.device,
    *,
    proximal_to: list[torch.Tensor] | None = None,
    empty_batch_step: Callable[[], None] | None = None,
) -> TrainOutcome:
    """Run `config.local_epochs` epochs; with `proximal_to`, add FedProx's proximal term to the loss.

    `empty_batch_step` runs for an empty batch instead of skipping it (DP-SGD's noise-only step).
    """
    model.to(device).train()
    total_loss, examples, steps = 0.0, 0, 0
    started = time.perf_counter()
    for _ in range(config.local_epochs):
        for signals, clinical, *labels in loader:
            if len(signals) == 0:  # Poisson sampling under DP can draw an empty batch
                if empty_batch_step is not None:
                    empty_batch_step()
                    steps += 1
                continue
            signals, clinical = signals.to(device), clinical.to(device)
            targets = {task: y.to(device) for task, y in zip(config.tasks, labels, strict=True)}
            optimizer.zero_grad(set_to_none=True)
            loss = multitask_loss(model(signals, clinical), targets, loss=config.loss)
            if proximal_to is not None:
                trainable = [p for p in model.parameters() if p.requires_grad]
                drift = sum(((p - g) ** 2).sum() for p, g in zip(trainable, proximal_to, strict=True))
                loss = loss + 0.5 * config.proximal_mu * drift
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(signals)
            examples += len(signals)
            steps += 1
    seconds = time.perf_counter() - started
    return TrainOutcome(
        examples=examples, mean_loss=total_loss / max(examples, 1), steps=steps, seconds=seconds
    )


@torch.no_grad()
def predict_probabilities(
    model: torch.nn.Module,
    data: ECGDataset,
    tasks: tuple[str, ...],
    device: torch.device,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Sigmoid probabilities per task, shape (n, labels); they never leave the hospital."""
    model.to(device).eval()
    outputs: dict[str, list[np.ndarray]] = {task: [] for task in tasks}
    for start in range(0, len(data), batch_size):
        # Copies: the cache is a read-only memory map, which torch will not wrap without a warning.
        signals = torch.tensor(data.signals[start : start + batch_size], dtype=torch.float32)
        clinical = torch.tensor(data.clinical[start : start + batch_size], dtype=torch.float32)
        logits = model(signals.to(device), clinical.to(device))
        for task in tasks:
            outputs[task].append(torch.sigmoid(logits[task].float()).cpu().numpy())
    return {
        task: np.concatenate(chunks)
        if chunks
        else np.zeros((0, data.labels[task].shape[1]), dtype=np.float32)
        for task, chunks in outputs.items()
    }
