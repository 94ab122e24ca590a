"""Progress events of a run, as JSON lines in `RUN_DIR/progress.jsonl`.

The ServerApp runs in a process of Flower's; writing events to a file lets `cardiofed run` (or anyone with
`tail -f`) follow a run live, and leaves a record of it afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class ProgressLog:
    """Append-only event log of one run."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "progress.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, **details: Any) -> None:
        """Record one event (e.g. `round` with fold, round and held-out AUROC)."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": time.time(), "event": event, **details}, default=str) + "\n")


def read_events(run_dir: Path, start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events from byte offset `start` on, and the offset to continue from (complete lines only)."""
    path = run_dir / "progress.jsonl"
    if not path.is_file():
        return [], start
    with path.open("rb") as handle:
        handle.seek(start)
        chunk = handle.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    events = [json.loads(line) for line in complete.decode("utf-8").splitlines() if line.strip()]
    return events, start + len(complete)


def end_offset(run_dir: Path) -> int:
    """Where the next run's events will start in progress.jsonl (a resumed run appends to it)."""
    path = run_dir / "progress.jsonl"
    return path.stat().st_size if path.is_file() else 0
