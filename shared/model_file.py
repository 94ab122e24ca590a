"""The model file a run leaves behind: a trained global model a hospital can load to explain its own ECGs.

The coordinator writes one per LOHO fold (`RUN_DIR/models/<held-out hospital>.pt`), one per local-only
model (`RUN_DIR/models/local-<hospital>.pt`) and one for pooled/centralized runs (`RUN_DIR/models/final.pt`).
Each holds the state dict and everything needed to rebuild the model and feed it data as it was trained:
architecture, tasks with their label names, clinical feature names, DP variant, sampling rate and duration.
A plain dict of tensors and primitives, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from shared.config import RunConfig
from shared.data import get_task
from shared.models import create_model

FORMAT = "cardiofed-model/1"


@dataclass(frozen=True)
class ModelFile:
    """A loaded model file: the model (in eval mode) and how its inputs must look."""

    model: torch.nn.Module
    model_name: str
    label_names: dict[str, tuple[str, ...]]  # task -> label names, in head order
    clinical_names: tuple[str, ...]
    sample_rate: int
    duration_s: float


def save_model_file(
    path: Path, state_dict: Mapping[str, torch.Tensor], config: RunConfig, clinical_names: list[str]
) -> Path:
    """Write the model trained under `config` to `path` (parent folders are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "model": config.model,
            "label_names": {task: list(get_task(task).label_names) for task in config.tasks},
            "clinical_names": list(clinical_names),
            "dp": config.dp,
            "sample_rate": config.sample_rate,
            "duration_s": config.duration_s,
            "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()},
        },
        path,
    )
    return path


def load_model_file(path: str | Path) -> ModelFile:
    """Rebuild the model saved by `save_model_file`; a file of another kind is a clear ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(f"{path}: not a readable model file ({type(error).__name__}: {error})") from error
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{path}: not a cardiofed model file (expected format {FORMAT!r})")
    label_names = {task: tuple(names) for task, names in saved["label_names"].items()}
    model = create_model(
        saved["model"],
        tasks={task: len(names) for task, names in label_names.items()},
        clinical_features=len(saved["clinical_names"]),
        dp=bool(saved["dp"]),
        sample_rate=int(saved["sample_rate"]),
    )
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return ModelFile(
        model=model,
        model_name=str(saved["model"]),
        label_names=label_names,
        clinical_names=tuple(saved["clinical_names"]),
        sample_rate=int(saved["sample_rate"]),
        duration_s=float(saved["duration_s"]),
    )
