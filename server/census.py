"""The census: which Flower node is which hospital, and the aggregate facts each hospital reports.

Every connected node is asked (a query message) for its hospital id and data census; nodes that do not
answer, fail, or claim a hospital already taken are left out with the reason, so the run goes on without them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from shared import contract

MetricValue = float | int | list[int] | list[float]


def scalar(value: MetricValue) -> float:
    """A metric a hospital reports as one number (a count, a sum, a loss); a list there is malformed."""
    if isinstance(value, list):
        raise ValueError(f"expected one number, got a list of {len(value)}")
    return float(value)


@dataclass
class HospitalNode:
    """A hospital that answered the census."""

    hospital: str
    node_id: int
    census: dict[str, MetricValue]
    clinical_names: list[str]
    device: str

    def census_summary(self) -> dict[str, Any]:
        """The census as nested plain values for results.json (clinical sums stay out: they are inputs)."""
        summary: dict[str, Any] = {"records": {}, "positives": {}, "sampling_rates": {}, "flags": {}}
        for key, value in self.census.items():
            parts = key.split("/")
            if parts[0] != "census":
                continue
            if parts[1] in ("train", "val", "test", "all") and parts[2] == "records":
                summary["records"][parts[1]] = value
            elif parts[1] in ("train", "val", "test", "all"):
                summary["positives"].setdefault(parts[1], {})[f"{parts[3]}/{parts[4]}"] = value
            elif parts[1] == "sampling-rate":
                summary["sampling_rates"][parts[2]] = value
            elif parts[1] == "flag":
                summary["flags"][parts[2]] = value
            else:
                summary[parts[1].replace("-", "_")] = value
        return summary


def run_census(
    grid: Grid, instructions: dict[str, str | int | bool], expected: int, timeout_s: float
) -> tuple[dict[str, HospitalNode], list[str]]:
    """Query every connected node for its hospital id and aggregate facts; report and leave out the odd ones.

    Waits until `expected` nodes are connected (0: whoever is connected after a few seconds).
    """
    deadline = time.monotonic() + timeout_s
    while len(list(grid.get_node_ids())) < max(expected, 1) and time.monotonic() < deadline:
        time.sleep(1.0)
    node_ids = sorted(grid.get_node_ids())
    messages = [
        Message(RecordDict({contract.CONFIG: ConfigRecord(dict(instructions))}), node_id, MessageType.QUERY)
        for node_id in node_ids
    ]
    replies = {
        reply.metadata.src_node_id: reply for reply in grid.send_and_receive(messages, timeout=timeout_s)
    }
    nodes: dict[str, HospitalNode] = {}
    problems: list[str] = []
    for node_id in node_ids:
        reply = replies.get(node_id)
        if reply is None:
            problems.append(f"node {node_id} did not answer the census; left out")
            continue
        if reply.has_error():
            problems.append(f"node {node_id} failed the census: {reply.error.reason}; left out")
            continue
        facts = reply.content[contract.CONFIG]
        hospital = str(facts["hospital"])
        if hospital in nodes:
            problems.append(
                f"node {node_id} claims hospital {hospital!r}, already answered by another node; left out"
            )
            continue
        nodes[hospital] = HospitalNode(
            hospital=hospital,
            node_id=node_id,
            census=dict(reply.content.metric_records[contract.METRICS]),
            clinical_names=[str(n) for n in facts["clinical-names"]],  # type: ignore[union-attr]
            device=str(facts.get("device", "unknown")),
        )
    if expected and len(nodes) < expected:
        problems.append(f"expected {expected} hospitals, {len(nodes)} answered the census")
    return dict(sorted(nodes.items())), problems
