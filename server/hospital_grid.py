"""A view of Flower's Grid that shows a strategy only some hospitals' nodes, and collects replies promptly."""

from __future__ import annotations

import time
from collections.abc import Iterable

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

#: Seconds between pulls for replies from the SuperLink while a round is out.
REPLY_POLL_S = 0.2


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
