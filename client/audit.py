"""The hospital's audit log: one JSON line per message answered, saying exactly what left the site.

The log lives in the hospital's state folder (in simulation `RUN_DIR/hospitals/<id>/audit.jsonl`) and is
append-only, so a hospital can prove invariants 1 and 2 from its own records.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.serde import message_to_proto


def wire_bytes(message: Message) -> int:
    """The size of `message` as Flower serialises it (protobuf): what crosses the network, less framing."""
    return message_to_proto(message).ByteSize()


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
    array_bytes, metric_keys, config_keys = 0, [], []
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
    """Append-only JSON-lines log of the messages a hospital answered."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "audit.jsonl"

    def record(
        self, *, run: int, fold: str | None, round_: int | None, message_type: str, **details: Any
    ) -> None:
        """Append one entry; `details` holds the footprint (and a `blocked` reason when the guard refused)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "time": time.time(),
            "run": run,
            "fold": fold,
            "round": round_,
            "type": message_type,
            **details,
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far (an absent log has none)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
