"""The hospital's gate: the only way a run's code reaches this hospital's data (invariant 6).

`cardiofed hospital join` starts Flower's SuperNode with `--isolation process`, so the SuperNode only
queues each message from the coordinator as a task on its loopback Runtime API and starts nothing itself.
The gate, which is part of the hospital's installation, takes those tasks (authenticated with a secret only
it and the SuperNode share) and for each message:

1. pulls the message and the run's app bundle (FAB), and hashes the bundle itself;
2. writes the run's line in the audit log at the run's first message (hash, publisher, name, version,
   decision, reason), whatever the decision;
3. refuses a run whose exact FAB the hospital has not approved with an error reply that names the reason
   (`app <hash> is not approved at hospital st-olav`): the bundle is never unpacked, none of it runs;
4. otherwise unpacks the approved bytes into a fresh folder and lets its ClientApp answer in a process of
   its own (client/clientapp_process.py), then checks the reply with the egress guard, logs it, and sends it.

Guard and audit therefore run from the hospital's code whatever the app is; an approved app runs without
its own copy of them (client/client_app.py applies its mod only in simulation).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from flwr.app import Context, Error, Message
from flwr.cli.install import install_from_fab
from flwr.common.constant import ErrorCode, SubStatus
from flwr.common.serde import context_from_proto, context_to_proto, message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Context as ProtoContext  # pylint: disable=E0611
from flwr.proto.message_pb2 import Message as ProtoMessage  # pylint: disable=E0611
from flwr.proto.runtime_pb2 import AcquireTaskRequest, SendTaskHeartbeatRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.heartbeat import HeartbeatSender
from flwr.supercore.interceptors import (
    RuntimeTokenHttpInterceptor,
    RuntimeVersionHttpInterceptor,
    SuperExecAuthHttpInterceptor,
)
from flwr.supercore.retry import make_simple_http_retry_invoker
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from client import clientapp_process
from client.approvals import AppBundle, AppError, ApprovalStore, bundle_from_bytes, fab_hash
from client.audit import AuditLog, message_facts, message_footprint
from client.egress import guarded_reply

#: Seconds between asks for a new task while none is waiting (a loopback call; cheap).
TASK_POLL_S = 0.2
#: The Runtime API method the SuperNode lets only the holder of the shared secret call.
ACQUIRE_TASK = "/flwr.proto.Runtime/AcquireTask"


@dataclass(frozen=True)
class GateSettings:
    """What the gate needs: whose gate it is and how to reach its SuperNode's Runtime API."""

    hospital: str
    state_dir: Path  # approvals and audit log
    runtime_address: str  # HOST:PORT of the SuperNode's Runtime API (loopback)
    secret: bytes  # the SuperExec secret shared with the SuperNode (--superexec-auth-secret-file)


def serve(settings: GateSettings, stop: threading.Event) -> None:
    """Take and answer the SuperNode's tasks one at a time until `stop` is set."""
    tasks = RuntimeHttpClient.from_server_address(
        server_address=settings.runtime_address,
        insecure=True,  # loopback on the hospital's own machine, as Flower's own SuperExec connects
        root_certificates=None,
        interceptors=[
            RuntimeVersionHttpInterceptor(component_name="SuperExec"),
            SuperExecAuthHttpInterceptor(master_secret=settings.secret, protected_methods={ACQUIRE_TASK}),
        ],
    )
    request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP], agentapp_fab_hashes=[])
    try:
        while not stop.is_set():
            try:
                acquired = tasks.AcquireTask(request)
            except httpx.TransportError:  # the SuperNode is still starting, or restarting
                stop.wait(1.0)
                continue
            if acquired.HasField("task") and acquired.token:
                try:
                    answer_task(settings, acquired.token)
                except Exception as error:  # one broken task must not take the hospital offline
                    print(f"hospital {settings.hospital}: task failed in the gate: {error}", file=sys.stderr)
            else:
                stop.wait(TASK_POLL_S)
    finally:
        tasks.close()


def answer_task(settings: GateSettings, token: str) -> None:
    """Decide on one task's app and answer its message (a refusal, or the approved app's guarded reply)."""
    client = RuntimeHttpClient.from_server_address(
        server_address=settings.runtime_address,
        insecure=True,
        root_certificates=None,
        interceptors=[
            RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
            RuntimeTokenHttpInterceptor(token),
        ],
        retry_invoker=make_simple_http_retry_invoker(),
    )
    cancelled = threading.Event()
    heartbeat = HeartbeatSender(_heartbeat(client, cancelled))
    heartbeat.start()
    context: Context | None = None
    status, details = SubStatus.FAILED, "the hospital's gate failed before answering"
    try:
        message, context, run, fab = pull_task_input(client)
        audit = AuditLog(settings.state_dir)
        bundle, refusal = _decide(settings, fab.content, {fab.hash_str, run.fab_hash}, run.run_id)
        if run.run_id not in {entry["run"] for entry in audit.runs()}:
            audit.record_run(
                run=run.run_id,
                app=_app_fields(bundle, fab.content),
                decision="refused" if refusal else "approved",
                reason=refusal or f"app approved at hospital {settings.hospital}",
            )
        if refusal or bundle is None:
            reply = Message(Error(code=ErrorCode.INVALID_FAB, reason=refusal), reply_to=message)
            details = refusal
            audit.record(**message_facts(message), refused=refusal, **message_footprint(reply))
        else:
            reply, context = _run_app(bundle, fab.content, message, context, cancelled)
            reply = guarded_reply(settings.hospital, audit, message, reply)
            status, details = SubStatus.COMPLETED, ""
        push_message(client, reply, context)
    finally:
        push_task_output(client=client, context=context, sub_status=status, details=details)
        heartbeat.stop()
        client.close()


def _decide(
    settings: GateSettings, fab: bytes, claimed_hashes: set[str], run_id: int
) -> tuple[AppBundle | None, str]:
    """The run's app (None if unreadable) and why it may not run here ("" when these bytes are approved)."""
    try:
        bundle = bundle_from_bytes(fab, f"the app of run {run_id}")
    except AppError as error:
        return None, f"run {run_id} brought an app that cannot be read: {error}"
    if claimed_hashes - {bundle.fab_hash}:
        claimed = ", ".join(sorted(claimed_hashes))
        return bundle, f"app {bundle.fab_hash} arrived under another hash ({claimed})"
    try:
        approved = ApprovalStore(settings.state_dir).is_approved(bundle.fab_hash)
    except AppError as error:
        return bundle, f"app {bundle.fab_hash} refused: {error}"
    if not approved:
        return bundle, f"app {bundle.fab_hash} is not approved at hospital {settings.hospital}"
    return bundle, ""


def _app_fields(bundle: AppBundle | None, fab: bytes) -> dict[str, str]:
    if bundle is None:
        return {"fab_hash": fab_hash(fab), "publisher": "", "name": "", "version": ""}
    return {
        "fab_hash": bundle.fab_hash,
        "publisher": bundle.publisher,
        "name": bundle.name,
        "version": bundle.version,
    }


def _run_app(
    bundle: AppBundle, fab: bytes, message: Message, context: Context, cancelled: threading.Event
) -> tuple[Message, Context]:
    """The approved app's reply to `message`, from a ClientApp process of its own."""
    with tempfile.TemporaryDirectory(prefix="cardiofed-app-") as scratch:
        # A fresh folder per message: what runs is exactly the bytes whose hash was approved.
        with redirect_stdout(sys.stderr):  # Flower says "Successfully installed" on stdout
            app_dir = install_from_fab(fab, install_dir=Path(scratch) / "install", skip_prompt=True)
        exchange = Path(scratch)
        (exchange / clientapp_process.MESSAGE_IN).write_bytes(message_to_proto(message).SerializeToString())
        (exchange / clientapp_process.CONTEXT_IN).write_bytes(context_to_proto(context).SerializeToString())
        command = [
            sys.executable, "-I", clientapp_process.__file__, str(exchange), str(app_dir),
            f"{bundle.publisher}/{bundle.name}", bundle.version, bundle.fab_hash,
        ]  # fmt: skip
        process = subprocess.Popen(command, stdout=sys.stderr)
        while process.poll() is None:
            if cancelled.wait(0.5):  # the run was stopped: the SuperNode no longer wants the answer
                process.kill()
        reply_file = exchange / clientapp_process.REPLY_OUT
        if process.wait() != 0 or not reply_file.is_file():
            reason = f"the ClientApp process exited with status {process.returncode} without a reply"
            return Message(Error(code=ErrorCode.CLIENT_APP_CRASHED, reason=reason), reply_to=message), context
        reply = message_from_proto(ProtoMessage.FromString(reply_file.read_bytes()))
        context_out = ProtoContext.FromString((exchange / clientapp_process.CONTEXT_OUT).read_bytes())
        return reply, context_from_proto(context_out)


def _heartbeat(client: RuntimeHttpClient, cancelled: threading.Event) -> Any:
    """Keep the task alive while the app works; a task the SuperNode gave up on sets `cancelled`."""

    def beat() -> bool:
        try:
            if not client.SendTaskHeartbeat(SendTaskHeartbeatRequest()).success:
                cancelled.set()
        except httpx.HTTPError:
            return False  # retried with backoff by Flower's HeartbeatSender
        return True

    return beat
