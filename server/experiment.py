"""The state every protocol shares: configuration, federation, progress, checkpoints and model set-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from server.census import scalar
from server.checkpoint import Checkpoints
from server.evaluation import headline_auroc
from server.federation import Federation, RoundReport
from server.progress import ProgressLog
from shared import contract
from shared.config import RunConfig
from shared.experiment import build_model, derive_seed
from shared.model_file import save_model_file
from shared.models.clinical import ClinicalEncoder, combine_clinical_statistics

_PRIVACY_KEYS = ("dp-epsilon", "dp-delta", "dp-noise-multiplier", "dp-sample-rate", "dp-steps")


@dataclass
class Experiment:
    """One run of one protocol over the hospitals that answered the census."""

    config: RunConfig
    federation: Federation
    progress: ProgressLog
    checkpoints: Checkpoints
    clinical_names: list[str]

    def initial_model(self, key: str, hospitals: list[str]) -> ArrayRecord:
        """A fresh model (seeded by `key`) whose clinical transform comes from `hospitals`' census sums.

        In LOHO the held-out hospital is not among `hospitals`: even its age distribution stays out of the
        model it is evaluated on.
        """
        model = build_model(
            self.config, len(self.clinical_names), init_seed=derive_seed(self.config.seed, "init", key)
        )
        statistics = [self._clinical_sums(hospital) for hospital in hospitals]
        mean, std = combine_clinical_statistics(statistics)
        encoder = model.clinical_encoder
        assert isinstance(encoder, ClinicalEncoder)  # every model of the registry fuses clinical features
        encoder.set_statistics(mean, std)
        return ArrayRecord(model.state_dict())

    def save_model(self, name: str, arrays: ArrayRecord) -> Path:
        """Keep a final model as `RUN_DIR/models/<name>.pt`: hospitals explain their own ECGs with it."""
        path = Path(self.config.run_dir) / "models" / f"{name}.pt"
        return save_model_file(path, arrays.to_torch_state_dict(), self.config, self.clinical_names)

    def final_evaluation(self, instructions: Mapping[str, Any]) -> dict[str, Any]:
        """Instructions for the final evaluation: they also ask for lead importance when the run wants it."""
        if self.config.lead_importance:
            return {**instructions, "lead-importance": True}
        return dict(instructions)

    def _clinical_sums(self, hospital: str) -> dict[str, np.ndarray]:
        census = self.federation.nodes[hospital].census
        return {
            stat: np.array([scalar(census[contract.clinical_stat_key(stat, f)]) for f in self.clinical_names])
            for stat in ("count", "sum", "sumsq")
        }

    def round_record(
        self, server_round: int, train: RoundReport, evaluation: RoundReport | None
    ) -> dict[str, Any]:
        """The per-round entry of results.json: who trained, losses, failures, and validation AUROC."""
        task = self.config.tasks[0]
        record: dict[str, Any] = {
            "round": server_round,
            "trained": sorted(train.metrics),
            "train_loss": {h: scalar(m["train-loss"]) for h, m in train.metrics.items()},
            "ecg_per_second": {h: scalar(m["ecg-per-second"]) for h, m in train.metrics.items()},
            "failed": dict(train.failed),
            "rejected": dict(train.rejected),
            "refused": dict(train.refused),
        }
        privacy = {h: {k: m[k] for k in _PRIVACY_KEYS if k in m} for h, m in train.metrics.items()}
        if any(privacy.values()):
            record["privacy"] = privacy
        if evaluation is not None:
            record["validation_auroc"] = {
                h: headline_auroc({h: m}, task) for h, m in evaluation.metrics.items() if h in train.metrics
            }
            record["evaluation_failed"] = dict(evaluation.failed)
        return record


def privacy_summary(rounds: list[dict[str, Any]], hospitals: list[str], config: RunConfig) -> dict[str, Any]:
    """Per hospital: the epsilon its ledger reported last, the noise it chose, steps run and refusals."""
    summary: dict[str, Any] = {
        "dp": config.dp,
        "target_epsilon": config.epsilon if config.dp else None,
        "delta": config.delta if config.dp else None,
        "central_dp": config.central_dp,
        "central_dp_noise": config.central_dp_noise if config.central_dp != "off" else None,
        "central_dp_clip": config.central_dp_clip if config.central_dp != "off" else None,
        "hospitals": {},
    }
    for hospital in hospitals:
        spent = [r["privacy"][hospital] for r in rounds if hospital in r.get("privacy", {})]
        refusals = [
            {"fold": r.get("fold"), "round": r["round"], "reason": r["refused"][hospital]}
            for r in rounds
            if hospital in r.get("refused", {})
        ]
        summary["hospitals"][hospital] = {
            "epsilon": spent[-1]["dp-epsilon"] if spent else None,
            "noise_multiplier": spent[-1]["dp-noise-multiplier"] if spent else None,
            "steps": sum(int(s["dp-steps"]) for s in spent),
            "refused": refusals,
        }
    return summary


def arrays_to_numpy(arrays: ArrayRecord) -> dict[str, np.ndarray]:
    """A picklable copy of a model's arrays (for checkpoints)."""
    return {key: array.numpy() for key, array in arrays.items()}


def arrays_from_numpy(values: dict[str, np.ndarray]) -> ArrayRecord:
    """The inverse of `arrays_to_numpy`."""
    return ArrayRecord({key: Array(np.asarray(value)) for key, value in values.items()})
