"""The hospital's audit log: one JSON line per run that reached it and per message answered.

The log lives in the hospital's state folder (in simulation `RUN_DIR/hospitals/<id>/audit.jsonl`) and is
append-only, so a hospital can prove invariants 1, 2 and 6 from its own records. In a deployment it is
written by the hospital's gate (client/gate.py, part of the hospital's installation), never by the app a run
brings: a refused or foreign run leaves its line too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.serde import message_to_proto

from shared import contract

#: The `type` of the line that records a run's arrival and the hospital's decision on its app.
RUN_ENTRY = "run"


def wire_bytes(message: Message) -> int:
    """The size of `message` as Flower serialises it (protobuf): what crosses the network, less framing."""
    return message_to_proto(message).ByteSize()


def message_facts(message: Message) -> dict[str, Any]:
    """What the audit log says of an incoming message: run, fold, round, type and its size."""
    instructions = ConfigRecord()
    if message.has_content():
        instructions = message.content.config_records.get(contract.CONFIG, instructions)
    held_out, server_round = instructions.get("held-out"), instructions.get("server-round")
    return {
        "run": message.metadata.run_id,
        "fold": str(held_out) if held_out else None,
        "round_": int(str(server_round)) if server_round is not None else None,
        "message_type": message.metadata.message_type,
        "received_bytes": wire_bytes(message),
    }


def message_footprint(reply: Message) -> dict[str, Any]:
    """What a reply carries off-site: array bytes, metric keys and config keys (never values), total bytes."""
    if reply.has_error():
        return {
            "array_bytes": 0,
            "metric_keys": [],
            "config_keys": [],
            "sent_bytes": wire_bytes(reply),
            "error": reply.error.reason,
        }
    array_bytes, metric_keys, config_keys = 0, list[str](), list[str]()
    for record in reply.content.values():
        if isinstance(record, ArrayRecord):
            array_bytes += sum(array.numpy().nbytes for array in record.values())
        elif isinstance(record, MetricRecord):
            metric_keys.extend(record.keys())
        elif isinstance(record, ConfigRecord):
            config_keys.extend(record.keys())
    return {
        "array_bytes": array_bytes,
        "metric_keys": sorted(metric_keys),
        "config_keys": sorted(config_keys),
        "sent_bytes": wire_bytes(reply),
    }


class AuditLog:
    """Append-only JSON-lines log of the runs that reached a hospital and the messages it answered."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "audit.jsonl"

    def record(
        self, *, run: int, fold: str | None, round_: int | None, message_type: str, **details: Any
    ) -> None:
        """Append one message entry; `details` holds the footprint (and `blocked` when the guard refused)."""
        self._append(
            {"run": run, "fold": fold, "round": round_, "type": message_type, **details},
        )

    def record_run(self, *, run: int, app: dict[str, str], decision: str, reason: str) -> None:
        """Append the line of a run's first message: its app (hash, publisher, name, version), the verdict."""
        self._append({"run": run, "type": RUN_ENTRY, **app, "decision": decision, "reason": reason})

    def runs(self) -> list[dict[str, Any]]:
        """The run lines: every run that reached the hospital, with the decision on its app."""
        return [entry for entry in self.entries() if entry["type"] == RUN_ENTRY]

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far (an absent log has none)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), **entry}, sort_keys=True) + "\n")
