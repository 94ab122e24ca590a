"""Prediction tasks: which diagnosis codes make a record positive for which label.

The definitions live in `tasks.json`, shipped with the package, so that a new task is a data change.
Each label lists its codes in both vocabularies cardiofed reads: SCP-ECG statements (PTB-XL `scp_codes`,
or a plain folder's `labels.csv`) and SNOMED CT concept ids (the PhysioNet Challenge `#Dx:` line). The two
vocabularies cannot collide (SCP statements are acronyms, SNOMED CT ids are digits), so a record's codes are
matched against both and no layout has to declare its vocabulary.

The superclass tasks (`mi`, `norm`, `sttc`, `hyp`, `cd`) list exactly the PTB-XL statements with
`diagnostic == 1` and that `diagnostic_class` (a test checks this against `scp_statements.csv`), plus the
SNOMED CT codes of the PhysioNet Challenge 2020/2021 label mapping that describe the same findings.
`challenge30` covers the 30 scored codes of the Challenge 2021; codes the Challenge scores as one diagnosis
share a label (26 labels).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import numpy as np

TaskKind = Literal["binary", "multilabel"]


@dataclass(frozen=True)
class Task:
    """A named prediction target: one binary label, or several labels predicted together."""

    name: str
    kind: TaskKind
    label_names: tuple[str, ...]
    description: str
    label_codes: tuple[frozenset[str], ...]  # per label: the SCP and SNOMED CT codes that make it positive

    def encode(self, records_codes: Sequence[Iterable[str]]) -> np.ndarray:
        """Multi-hot labels, shape (len(records_codes), len(label_names)), float32 in {0, 1}."""
        labels = np.zeros((len(records_codes), len(self.label_names)), dtype=np.float32)
        for row, codes in enumerate(records_codes):
            present = set(codes)
            for column, label_codes in enumerate(self.label_codes):
                if present & label_codes:
                    labels[row, column] = 1.0
        return labels


def _load_tasks() -> dict[str, Task]:
    definitions = json.loads(resources.files("shared.data").joinpath("tasks.json").read_text("utf-8"))
    tasks = {}
    for name, spec in definitions.items():
        labels = spec["labels"]
        if spec["kind"] == "binary" and len(labels) != 1:
            raise ValueError(f"tasks.json: binary task {name!r} must have exactly one label")
        tasks[name] = Task(
            name=name,
            kind=spec["kind"],
            label_names=tuple(label["name"] for label in labels),
            description=spec["description"],
            label_codes=tuple(frozenset(label["scp"]) | frozenset(label["snomed"]) for label in labels),
        )
    return tasks


_TASKS = _load_tasks()

#: Every task cardiofed knows, in the order of `tasks.json`.
TASK_NAMES: tuple[str, ...] = tuple(_TASKS)


def get_task(name: str) -> Task:
    """The task called `name`; raises ValueError listing the known tasks when there is none."""
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)}") from None
