"""Who this node is: the hospital's id, its data, its state folder and its own privacy settings.

In deployment the hospital says so itself in the SuperNode's node config
(`--node-config 'data-path="/data/ecg" hospital="st-olav" state-dir="/var/lib/cardiofed"'`).
In simulation Flower gives each virtual node a `partition-id`; the node then takes the hospital at that
position among the sorted hospitals of the run's dataset, and keeps its state under the run folder.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.config import RunConfig
from shared.data import ECGDataset, load_dataset, patient_split


@dataclass(frozen=True)
class HospitalSite:
    """One hospital as seen from its own node."""

    hospital: str
    data_path: str
    layout: str
    hospital_by: str
    state_dir: Path
    max_epsilon: float | None  # the hospital's own cap on spent epsilon; None means no cap
    force_dp: bool  # the hospital demands DP-SGD whatever the coordinator asks
    simulated: bool


def resolve_site(node_config: dict[str, Any], config: RunConfig) -> HospitalSite:
    """Build the HospitalSite from Flower's node config (deployment) or partition id (simulation)."""
    cap = node_config.get("max-epsilon")
    max_epsilon = float(cap) if cap is not None else None
    force_dp = bool(node_config.get("force-dp", False))
    if "data-path" in node_config:
        if "hospital" not in node_config:
            raise ValueError('node config has data-path but no hospital id; add hospital="<id>"')
        data_path = str(node_config["data-path"])
        return HospitalSite(
            hospital=str(node_config["hospital"]),
            data_path=data_path,
            layout=str(node_config.get("layout", "auto")),
            hospital_by=str(node_config.get("hospital-by", "none")),
            state_dir=Path(str(node_config.get("state-dir", Path(data_path) / ".cardiofed"))),
            max_epsilon=max_epsilon,
            force_dp=force_dp,
            simulated=False,
        )
    if "partition-id" not in node_config:
        raise ValueError("node config names neither data-path (deployment) nor partition-id (simulation)")
    if not config.data_path:
        raise ValueError("simulation needs the run config's data-path: the dataset to split into hospitals")
    hospitals = _dataset(config.data_path, config.layout, config.hospital_by, None, config).hospitals
    partition = int(node_config["partition-id"])
    if partition >= len(hospitals):
        raise ValueError(
            f"virtual node {partition} has no hospital: {config.data_path} has {len(hospitals)} "
            f"({', '.join(hospitals)}); run with num-supernodes={len(hospitals)}"
        )
    hospital = hospitals[partition]
    return HospitalSite(
        hospital=hospital,
        data_path=config.data_path,
        layout=config.layout,
        hospital_by=config.hospital_by,
        state_dir=simulated_state_root(config) / hospital,
        # A simulated hospital has no node config of its own: the run config stands in for it.
        max_epsilon=max_epsilon if max_epsilon is not None else (config.hospital_max_epsilon or None),
        force_dp=force_dp,
        simulated=True,
    )


def simulated_state_root(config: RunConfig) -> Path:
    """Where simulated hospitals keep state: `hospital-state-dir`, else `hospitals/` in the run folder."""
    return (
        Path(config.hospital_state_dir) if config.hospital_state_dir else Path(config.run_dir) / "hospitals"
    )


def hospital_data(site: HospitalSite, config: RunConfig) -> ECGDataset:
    """The hospital's own records, preprocessed as the experiment asks (cached per process)."""
    name = site.hospital if site.hospital_by == "none" else None
    dataset = _dataset(site.data_path, site.layout, site.hospital_by, name, config)
    return dataset if site.hospital_by == "none" else dataset.for_hospital(site.hospital)


def pooled_training_data(config: RunConfig) -> ECGDataset:
    """Every hospital's records in one dataset: the centralised baseline (simulation only)."""
    return _dataset(config.data_path, config.layout, config.hospital_by, None, config)


def split_of(dataset: ECGDataset, seed: int) -> np.ndarray:
    """Patient-level train/val/test assignment of each record (deterministic from patient id and seed)."""
    return patient_split(dataset.patient_ids, seed)


def _dataset(
    data_path: str, layout: str, hospital_by: str, hospital_name: str | None, config: RunConfig
) -> ECGDataset:
    return _load_cached(
        data_path,
        layout,
        hospital_by,
        hospital_name,
        config.tasks,
        config.sample_rate,
        config.duration_s,
        config.records,
    )


@functools.lru_cache(maxsize=4)
def _load_cached(
    data_path: str,
    layout: str,
    hospital_by: str,
    hospital_name: str | None,
    tasks: tuple[str, ...],
    sample_rate: int,
    duration_s: float,
    records: str,
) -> ECGDataset:
    # A node answers many messages in one process; loading once keeps every round free of file parsing.
    return load_dataset(
        data_path,
        layout=layout,
        hospital_by=hospital_by,
        hospital_name=hospital_name,
        tasks=tasks,
        sample_rate=sample_rate,
        duration_s=duration_s,
        records=records,
        progress=False,
    )
