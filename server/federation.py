"""The coordinator's view of the federation: which node is which hospital, and one round of messages.

Hospitals are addressed by their own ids; Flower node ids stay inside this module. Replies are sorted by
hospital before aggregation so a run is reproducible whatever order the replies arrive in, and every
update is checked before it can reach a strategy (invariant 4: a malformed update is rejected, not averaged).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore.run import Run

from shared import contract

#: Seconds between pulls for replies from the SuperLink while a round is out.
REPLY_POLL_S = 0.2


@dataclass
class HospitalNode:
    """A hospital that answered the census."""

    hospital: str
    node_id: int
    census: dict[str, float | int | list[int] | list[float]]
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


@dataclass
class RoundReport:
    """What happened to each hospital in one round: its metrics, or why it is missing."""

    metrics: dict[str, dict[str, float | int | list[int] | list[float]]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # hospital -> reason (no reply, error, refusal)
    rejected: dict[str, str] = field(default_factory=dict)  # hospital -> why its update was not aggregated
    refused: dict[str, str] = field(
        default_factory=dict
    )  # hospital -> why it declined (e.g. its privacy cap)


class HospitalGrid(Grid):
    """A Grid that shows a strategy only the nodes of the hospitals taking part (e.g. LOHO's trainers).

    It also collects replies promptly: Flower's Grid.send_and_receive sleeps 3 s between pulls, which adds
    up to 3 s to every round trip; this one pulls every REPLY_POLL_S (bench/run.py measures the overhead).
    """

    def __init__(self, grid: Grid, node_ids: Iterable[int]) -> None:
        self._grid = grid
        self._node_ids = sorted(node_ids)

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> list[int]:
        return list(self._node_ids)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        pending = set(self._grid.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies: list[Message] = []
        while pending and (deadline is None or time.monotonic() < deadline):
            time.sleep(REPLY_POLL_S)
            pulled = list(self._grid.pull_messages(pending))
            replies.extend(pulled)
            pending.difference_update(reply.metadata.reply_to_message_id for reply in pulled)
        return replies


class Federation:
    """The hospitals of a run and the rounds sent to them."""

    def __init__(self, grid: Grid, nodes: dict[str, HospitalNode], timeout_s: float) -> None:
        self.grid = grid
        self.nodes = nodes
        self.timeout_s = timeout_s
        self._hospital_of = {node.node_id: hospital for hospital, node in nodes.items()}

    @property
    def hospitals(self) -> list[str]:
        return sorted(self.nodes)

    def train_round(
        self,
        strategy: Strategy,
        server_round: int,
        arrays: ArrayRecord,
        hospitals: list[str],
        instructions: dict[str, str | int | bool],
        max_update_norm: float,
    ) -> tuple[ArrayRecord | None, RoundReport]:
        """Send one train round to `hospitals` through `strategy`; aggregate the valid updates."""
        view = HospitalGrid(self.grid, [self.nodes[h].node_id for h in hospitals])
        messages = list(
            strategy.configure_train(server_round, arrays, ConfigRecord(dict(instructions)), view)
        )
        replies = self._exchange(messages)
        report = RoundReport()
        valid: list[Message] = []
        for hospital, reply in replies.items():
            if reply is None or reply.has_error():
                report.failed[hospital] = "no reply" if reply is None else reply.error.reason
                continue
            if (reason := refusal_reason(reply)) is not None:
                report.refused[hospital] = reason
                continue
            problem = update_problem(reply.content, arrays, max_update_norm)
            if problem is not None:
                report.rejected[hospital] = problem
                continue
            report.metrics[hospital] = dict(reply.content[contract.METRICS])
            valid.append(reply)
        report.failed.update({h: "no reply" for h in hospitals if h not in replies})
        if not valid:
            return None, report
        aggregated, _ = strategy.aggregate_train(server_round, valid)
        return (None if aggregated is None else _like(aggregated, arrays)), report

    def evaluate(
        self, arrays: ArrayRecord, splits: dict[str, str], instructions: dict[str, str | int | bool]
    ) -> RoundReport:
        """Ask each hospital in `splits` to score `arrays` on the named split of its data."""
        messages = []
        for hospital, split in splits.items():
            config = ConfigRecord({**instructions, "split": split})
            content = RecordDict({contract.ARRAYS: arrays, contract.CONFIG: config})
            messages.append(Message(content, self.nodes[hospital].node_id, MessageType.EVALUATE))
        return self._collect(self._exchange(messages), list(splits))

    def train_each(
        self,
        models: dict[str, ArrayRecord],
        instructions: dict[str, str | int | bool],
        max_update_norm: float,
    ) -> tuple[dict[str, ArrayRecord], RoundReport]:
        """Each hospital trains its own model (the local-only baseline; nothing is aggregated)."""
        messages = []
        for hospital, arrays in models.items():
            content = RecordDict({contract.ARRAYS: arrays, contract.CONFIG: ConfigRecord(dict(instructions))})
            messages.append(Message(content, self.nodes[hospital].node_id, MessageType.TRAIN))
        replies = self._exchange(messages)
        report = self._collect(replies, list(models))
        updated = {}
        for hospital in list(report.metrics):
            reply = replies[hospital]
            assert reply is not None
            if (reason := refusal_reason(reply)) is not None:
                report.refused[hospital] = reason
                del report.metrics[hospital]
                continue
            problem = update_problem(reply.content, models[hospital], max_update_norm)
            if problem is not None:
                report.rejected[hospital] = problem
                del report.metrics[hospital]
                continue
            updated[hospital] = _like(reply.content[contract.ARRAYS], models[hospital])
        return updated, report

    def _exchange(self, messages: list[Message]) -> dict[str, Message | None]:
        replies = self.grid.send_and_receive(messages, timeout=self.timeout_s)
        by_hospital: dict[str, Message | None] = {}
        for reply in replies:
            hospital = self._hospital_of.get(reply.metadata.src_node_id)
            if hospital is not None:
                by_hospital[hospital] = reply
        return dict(sorted(by_hospital.items()))

    @staticmethod
    def _collect(replies: dict[str, Message | None], hospitals: list[str]) -> RoundReport:
        report = RoundReport()
        for hospital in hospitals:
            reply = replies.get(hospital)
            if reply is None or reply.has_error():
                report.failed[hospital] = "no reply" if reply is None else reply.error.reason
            else:
                report.metrics[hospital] = dict(reply.content[contract.METRICS])
        return report


def refusal_reason(reply: Message) -> str | None:
    """The hospital's reason when its train reply declines the request, else None."""
    metrics = reply.content.metric_records.get(contract.METRICS)
    if metrics is None or not metrics.get("dp-refused"):
        return None
    facts = reply.content.config_records.get(contract.CONFIG)
    return str(facts["refusal-reason"]) if facts and "refusal-reason" in facts else "refused without a reason"


def update_problem(content: RecordDict, global_arrays: ArrayRecord, max_update_norm: float) -> str | None:
    """Why a train reply must not be aggregated (bad arrays, NaN/Inf, absurd norm), or None if it may."""
    if contract.ARRAYS not in content.array_records:
        return "reply carries no model arrays"
    if (
        contract.METRICS not in content.metric_records
        or contract.NUM_EXAMPLES not in content[contract.METRICS]
    ):
        return f"reply carries no {contract.NUM_EXAMPLES}"
    examples = content[contract.METRICS][contract.NUM_EXAMPLES]
    if not isinstance(examples, int | float) or examples <= 0:
        return f"{contract.NUM_EXAMPLES} is {examples!r}, not a positive count"
    update = content[contract.ARRAYS]
    missing = sorted(set(global_arrays) - set(update))
    if missing:
        return f"update lacks array {missing[0]!r}"
    extra = sorted(set(update) - set(global_arrays))
    if extra:
        return f"update has unexpected array {extra[0]!r}"
    squared_distance = 0.0
    for key, reference in global_arrays.items():
        new, old = update[key].numpy(), reference.numpy()
        if new.shape != old.shape:
            return f"array {key!r} has shape {new.shape}, expected {old.shape}"
        if not np.all(np.isfinite(new)):
            return f"array {key!r} contains NaN or Inf"
        squared_distance += float(np.sum((new.astype(np.float64) - old.astype(np.float64)) ** 2))
    norm = squared_distance**0.5
    if norm > max_update_norm:
        return f"update norm {norm:.3g} exceeds the limit {max_update_norm:.3g}"
    return None


def _like(arrays: ArrayRecord, reference: ArrayRecord) -> ArrayRecord:
    """`arrays` cast to the reference dtypes (averaging turns integer buffers such as counters to floats)."""
    cast = {}
    for key, ref in reference.items():
        value, dtype = arrays[key].numpy(), ref.numpy().dtype
        rounded = np.round(value) if np.issubdtype(dtype, np.integer) else value
        cast[key] = Array(np.asarray(rounded, dtype=dtype))  # 0-d buffers come back as numpy scalars
    return ArrayRecord(cast)


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
            census=dict(reply.content[contract.METRICS]),
            clinical_names=[str(n) for n in facts["clinical-names"]],  # type: ignore[union-attr]
            device=str(facts.get("device", "unknown")),
        )
    if expected and len(nodes) < expected:
        problems.append(f"expected {expected} hospitals, {len(nodes)} answered the census")
    return dict(sorted(nodes.items())), problems
