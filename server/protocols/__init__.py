"""The experiment protocols: leave-one-hospital-out, pooled, local-only and centralised."""

from __future__ import annotations

from typing import Any

from server.experiment import Experiment
from server.protocols.local import run_local
from server.protocols.loho import run_loho
from server.protocols.pooled import run_pooled


def run_protocol(experiment: Experiment, state: dict[str, Any]) -> dict[str, Any]:
    """Run the configured protocol from `state` (empty, or a checkpoint's) and return its results."""
    protocol = experiment.config.protocol
    if protocol == "loho":
        return run_loho(experiment, state)
    if protocol == "local":
        return run_local(experiment, state)
    return run_pooled(experiment, state, centralized=protocol == "centralized")
