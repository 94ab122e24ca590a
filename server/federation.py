"""The coordinator's rounds: messages to hospitals by hospital id, and what came back.

Hospitals are addressed by their own ids; Flower node ids stay inside this module and the census. Replies
are sorted by hospital before aggregation so a run is reproducible whatever order they arrive in, and every
reply passes `reply_problem` before anything of it is used: an update that does not fit is rejected, never
averaged (invariant 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from server.census import HospitalNode, MetricValue
from server.hospital_grid import HospitalGrid
from server.update_checks import reply_problem
from shared import contract

#: What a round tells the hospitals (round, fold, split...), as ConfigRecord values.
Instructions = Mapping[str, Any]


@dataclass
class RoundReport:
    """What happened to each hospital in one round: its metrics, or why it is missing."""

    metrics: dict[str, dict[str, MetricValue]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # hospital -> reason (no reply, an error)
    rejected: dict[str, str] = field(default_factory=dict)  # hospital -> why its update was not aggregated
    refused: dict[str, str] = field(
        default_factory=dict
    )  # hospital -> why it declined (e.g. its privacy cap)

    def add(self, hospital: str, reply: Message | None, sent: ArrayRecord | None, max_norm: float) -> bool:
        """File one hospital's reply under metrics or under the reason it is unusable; True if usable."""
        problem = reply_problem(reply, sent, max_norm)
        if problem is not None:
            kind, reason = problem
            getattr(self, kind)[hospital] = reason
            return False
        assert reply is not None
        self.metrics[hospital] = dict(reply.content.metric_records[contract.METRICS])
        return True


class Federation:
    """The hospitals of a run and the rounds sent to them."""

    def __init__(self, grid: Grid, nodes: dict[str, HospitalNode], timeout_s: float) -> None:
        self.grid = grid
        self.nodes = nodes
        self.timeout_s = timeout_s
        self._hospital_of = {node.node_id: hospital for hospital, node in nodes.items()}

    @property
    def hospitals(self) -> list[str]:
        """The hospitals of the run, sorted."""
        return sorted(self.nodes)

    def train_round(
        self,
        strategy: Strategy,
        server_round: int,
        arrays: ArrayRecord,
        hospitals: list[str],
        instructions: Instructions,
        max_update_norm: float,
    ) -> tuple[ArrayRecord | None, RoundReport]:
        """Send one train round to `hospitals` through `strategy`; aggregate the valid updates."""
        view = HospitalGrid(self.grid, [self.nodes[h].node_id for h in hospitals])
        messages = list(
            strategy.configure_train(server_round, arrays, ConfigRecord(dict(instructions)), view)
        )
        replies = self._exchange(messages)
        report = RoundReport()
        valid = [
            reply
            for hospital in hospitals
            if report.add(hospital, reply := replies.get(hospital), arrays, max_update_norm) and reply
        ]
        if not valid:
            return None, report
        aggregated, _ = strategy.aggregate_train(server_round, valid)
        return (None if aggregated is None else _like(aggregated, arrays)), report

    def evaluate(
        self, arrays: ArrayRecord, splits: dict[str, str], instructions: Instructions
    ) -> RoundReport:
        """Ask each hospital in `splits` to score `arrays` on the named split of its data."""
        messages = []
        for hospital, split in splits.items():
            config = ConfigRecord({**instructions, "split": split})
            content = RecordDict({contract.ARRAYS: arrays, contract.CONFIG: config})
            messages.append(Message(content, self.nodes[hospital].node_id, MessageType.EVALUATE))
        replies = self._exchange(messages)
        report = RoundReport()
        for hospital in splits:
            report.add(hospital, replies.get(hospital), None, 0.0)
        return report

    def train_each(
        self, models: dict[str, ArrayRecord], instructions: Instructions, max_update_norm: float
    ) -> tuple[dict[str, ArrayRecord], RoundReport]:
        """Each hospital trains its own model (the local-only baseline; nothing is aggregated)."""
        messages = []
        for hospital, arrays in models.items():
            content = RecordDict({contract.ARRAYS: arrays, contract.CONFIG: ConfigRecord(dict(instructions))})
            messages.append(Message(content, self.nodes[hospital].node_id, MessageType.TRAIN))
        replies = self._exchange(messages)
        report = RoundReport()
        updated = {}
        for hospital, sent in models.items():
            reply = replies.get(hospital)
            if report.add(hospital, reply, sent, max_update_norm) and reply is not None:
                updated[hospital] = _like(reply.content.array_records[contract.ARRAYS], sent)
        return updated, report

    def _exchange(self, messages: list[Message]) -> dict[str, Message | None]:
        replies = self.grid.send_and_receive(messages, timeout=self.timeout_s)
        by_hospital: dict[str, Message | None] = {}
        for reply in replies:
            hospital = self._hospital_of.get(reply.metadata.src_node_id)
            if hospital is not None:
                by_hospital[hospital] = reply
        return dict(sorted(by_hospital.items()))


def _like(arrays: ArrayRecord, reference: ArrayRecord) -> ArrayRecord:
    """`arrays` cast to the reference dtypes (averaging turns integer buffers such as counters to floats)."""
    cast = {}
    for key, ref in reference.items():
        value, dtype = arrays[key].numpy(), ref.numpy().dtype
        rounded = np.round(value) if np.issubdtype(dtype, np.integer) else value
        cast[key] = Array(np.asarray(rounded, dtype=dtype))  # 0-d buffers come back as numpy scalars
    return ArrayRecord(cast)
