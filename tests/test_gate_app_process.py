"""The gate's ClientApp process: one per run of an approved app, answering that run's messages in turn.

A tiny Flower app (written here) counts, in its module, the messages its process has answered and reports
its process id, so the test sees which process answered what. The real-process proof that only approved apps
get such a process is tests/test_deploy.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flower_apps import app_pyproject
from flwr.app import ConfigRecord, Context, Message, MessageType, Metadata, RecordDict
from flwr.common.constant import ErrorCode

from client.approvals import bundle_from_bytes, fab_bytes
from client.gate import AppProcesses

PYPROJECT = app_pyproject("counter", "tests", "counter_app:server", "counter_app:app")
#: Answers a query with its process id and how many messages this process has answered; `print`s (which
#: must not corrupt the replies) and, when asked, dies without replying.
COUNTER_APP = """\
import os
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

app, server = ClientApp(), ServerApp()
ANSWERED = [0]


@app.query()
def count(message, context):
    print("the app writes to stdout")
    if message.content.config_records["ask"]["die"]:
        os._exit(3)
    ANSWERED[0] += 1
    answer = ConfigRecord({"pid": os.getpid(), "answered": ANSWERED[0]})
    return Message(RecordDict({"answer": answer}), reply_to=message)
"""


@pytest.fixture(scope="module")
def counter_fab(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    app = tmp_path_factory.mktemp("counter")
    (app / "pyproject.toml").write_text(PYPROJECT)
    (app / "counter_app.py").write_text(COUNTER_APP)
    return fab_bytes(app)


@pytest.fixture
def processes() -> Iterator[AppProcesses]:
    app_processes = AppProcesses()
    yield app_processes
    app_processes.stop()


def _ask(processes: AppProcesses, fab: bytes, run_id: int, die: bool = False) -> Message:
    bundle = bundle_from_bytes(fab, "the counter app")
    # Explicit metadata: the message is built outside a Flower run, as the gate receives one.
    metadata = Metadata(
        run_id=run_id, message_id="m", src_node_id=1, dst_node_id=7, reply_to_message_id="", group_id="",
        created_at=0.0, ttl=60.0, message_type=MessageType.QUERY,
    )  # fmt: skip
    message = Message(content=RecordDict({"ask": ConfigRecord({"die": die})}), metadata=metadata)
    context = Context(run_id=run_id, node_id=1, node_config={}, state=RecordDict(), run_config={})
    reply, _ = processes.for_run(run_id, bundle, fab).answer(message, context, threading.Event())
    return reply


def _answer(reply: Message) -> tuple[int, int]:
    assert not reply.has_error(), reply.error.reason
    record = reply.content.config_records["answer"]
    return int(record["pid"]), int(record["answered"])


def test_one_process_answers_every_message_of_its_run(processes: AppProcesses, counter_fab: bytes) -> None:
    first_pid, first_count = _answer(_ask(processes, counter_fab, run_id=7))
    second_pid, second_count = _answer(_ask(processes, counter_fab, run_id=7))
    assert second_pid == first_pid and (first_count, second_count) == (1, 2)


def test_another_run_never_reaches_the_process_of_the_last(
    processes: AppProcesses, counter_fab: bytes
) -> None:
    run_a_pid, _ = _answer(_ask(processes, counter_fab, run_id=7))
    run_b_pid, run_b_count = _answer(_ask(processes, counter_fab, run_id=8))
    assert run_b_pid != run_a_pid and run_b_count == 1  # a fresh process: nothing of run 7 is left in it


def test_a_process_that_dies_is_an_error_reply_and_the_next_message_gets_a_new_one(
    processes: AppProcesses, counter_fab: bytes
) -> None:
    first_pid, _ = _answer(_ask(processes, counter_fab, run_id=7))
    died = _ask(processes, counter_fab, run_id=7, die=True)
    assert died.has_error() and died.error.code == ErrorCode.CLIENT_APP_CRASHED
    assert "exited with status 3 without a reply" in died.error.reason
    pid, count = _answer(_ask(processes, counter_fab, run_id=7))
    assert pid != first_pid and count == 1


def test_an_idle_process_is_stopped(processes: AppProcesses, counter_fab: bytes) -> None:
    first_pid, _ = _answer(_ask(processes, counter_fab, run_id=7))
    processes.stop_idle(idle_s=0.0)
    pid, count = _answer(_ask(processes, counter_fab, run_id=7))
    assert pid != first_pid and count == 1
