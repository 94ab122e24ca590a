"""What a loaded dataset holds, per hospital: the object behind `cardiofed data check --json`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.data.dataset import ECGDataset
from shared.data.layouts.listing import hospital_sort_key
from shared.data.tasks import get_task


def census(dataset: ECGDataset, tasks: Sequence[str] | None = None) -> dict[str, Any]:
    """A JSON-ready summary of `dataset`.

    Keys: `layout`, `root`, `sample_rate`, `duration_s`, `records` (every record the layout found),
    `usable`, `skipped` (list of {record, reason, hospital}), `flags` ({flag: count} over usable records),
    and `hospitals`: hospital id -> {records (usable), patients, skipped, positives, sampling_rates}.
    `positives[task]` is a count for a binary task and {label: count} for a multi-label one;
    `sampling_rates` counts the rates of the files on disk ({"500": 12}). `tasks` defaults to every task
    the dataset carries.
    """
    task_names = list(dataset.labels) if tasks is None else list(tasks)
    for name in task_names:
        if name not in dataset.labels:
            loaded = ", ".join(dataset.labels)
            raise ValueError(f"the dataset was loaded without task {name!r} (it has {loaded})")
    hospital_ids = {r.hospital for r in dataset.records} | {s.hospital for s in dataset.skipped if s.hospital}
    hospitals = {
        hospital: _hospital_summary(dataset, hospital, task_names)
        for hospital in sorted(hospital_ids, key=hospital_sort_key)
    }
    return {
        "layout": dataset.layout,
        "root": str(dataset.root),
        "sample_rate": dataset.sample_rate,
        "duration_s": dataset.duration_s,
        "records": dataset.records_found,
        "usable": len(dataset),
        "skipped": [
            {"record": s.record, "reason": s.reason, "hospital": s.hospital} for s in dataset.skipped
        ],
        "flags": dict(sorted(Counter(flag for r in dataset.records for flag in r.flags).items())),
        "hospitals": hospitals,
    }


def _hospital_summary(dataset: ECGDataset, hospital: str, task_names: list[str]) -> dict[str, Any]:
    rows = np.array([r.hospital == hospital for r in dataset.records], dtype=bool)
    records = [r for r in dataset.records if r.hospital == hospital]
    positives: dict[str, Any] = {}
    for name in task_names:
        counts = dataset.labels[name][rows].sum(axis=0).astype(int).tolist()
        if get_task(name).kind == "binary":
            positives[name] = counts[0]
        else:
            positives[name] = dict(zip(dataset.label_names[name], counts, strict=True))
    rates = Counter(_rate_text(r.source_rate) for r in records if r.source_rate > 0)  # images have none
    return {
        "records": len(records),
        "patients": len({r.patient_id for r in records}),
        "skipped": sum(1 for s in dataset.skipped if s.hospital == hospital),
        "positives": positives,
        "sampling_rates": dict(sorted(rates.items(), key=lambda item: float(item[0]))),
    }


def _rate_text(rate: float) -> str:
    return str(int(rate)) if float(rate).is_integer() else f"{rate:g}"
