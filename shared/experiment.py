"""What both sides of a run must build identically: the model for an experiment's configuration."""

from __future__ import annotations

import hashlib

import torch

from shared.config import RunConfig
from shared.data import get_task
from shared.models import create_model


def label_counts(tasks: tuple[str, ...]) -> dict[str, int]:
    """Number of labels of each task, in the order the model's heads are built."""
    return {task: len(get_task(task).label_names) for task in tasks}


def build_model(config: RunConfig, clinical_features: int, init_seed: int | None = None) -> torch.nn.Module:
    """The experiment's model; with `init_seed`, its initial weights are reproducible."""
    if init_seed is not None:
        torch.manual_seed(init_seed)
    return create_model(
        config.model,
        tasks=label_counts(config.tasks),
        clinical_features=clinical_features,
        dp=config.dp,
        sample_rate=config.sample_rate,
    )


def derive_seed(seed: int, *parts: object) -> int:
    """A reproducible 31-bit seed for one piece of work (e.g. a fold, round and hospital)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
