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
4. otherwise hands the message to the run's own ClientApp process (client/clientapp_process.py), started
   at the run's first approved message from the approved bytes unpacked into a fresh folder, then checks
   the reply with the egress guard, logs it, and sends it.

Guard and audit therefore run from the hospital's code whatever the app is; an approved app runs without
its own copy of them (client/client_app.py applies its mod only in simulation).
"""

from __future__ import annotations

import select
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from flwr.app import Context, Error, Message
from flwr.cli.install import install_from_fab
from flwr.common.constant import ErrorCode, SubStatus
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
#: Seconds a run's ClientApp process may wait for the run's next message before the gate stops it. Longer
#: than the coordinator's gap between rounds; a later message of the run simply starts a new process.
APP_PROCESS_IDLE_S = 300.0
#: Seconds between checks for a stopped run while its ClientApp process works.
CANCEL_CHECK_S = 0.5


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
    app_processes = AppProcesses()
    try:
        while not stop.is_set():
            try:
                acquired = tasks.AcquireTask(request)
            except httpx.TransportError:  # the SuperNode is still starting, or restarting
                stop.wait(1.0)
                continue
            if acquired.HasField("task") and acquired.token:
                try:
                    answer_task(settings, acquired.token, app_processes)
                except Exception as error:  # one broken task must not take the hospital offline
                    print(f"hospital {settings.hospital}: task failed in the gate: {error}", file=sys.stderr)
            else:
                app_processes.stop_idle(APP_PROCESS_IDLE_S)
                stop.wait(TASK_POLL_S)
    finally:
        app_processes.stop()
        tasks.close()


def answer_task(settings: GateSettings, token: str, app_processes: AppProcesses) -> None:
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
            app_process = app_processes.for_run(run.run_id, bundle, fab.content)
            reply, context = app_process.answer(message, context, cancelled)
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


class AppProcess:
    """The ClientApp process of one run of one approved app; it answers that run's messages in turn."""

    def __init__(self, run_id: int, bundle: AppBundle, fab: bytes) -> None:
        self.serves = (run_id, bundle.fab_hash)
        # A fresh folder per run: what runs is exactly the bytes whose hash was approved.
        self._scratch = tempfile.TemporaryDirectory(prefix="cardiofed-app-")
        with redirect_stdout(sys.stderr):  # Flower says "Successfully installed" on stdout
            app_dir = install_from_fab(fab, install_dir=Path(self._scratch.name), skip_prompt=True)
        command = [
            sys.executable, "-I", clientapp_process.__file__, str(app_dir),
            f"{bundle.publisher}/{bundle.name}", bundle.version, bundle.fab_hash,
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.last_used = time.monotonic()

    @property
    def alive(self) -> bool:
        """Whether the process can take another message."""
        return self._process.poll() is None

    def answer(
        self, message: Message, context: Context, cancelled: threading.Event
    ) -> tuple[Message, Context]:
        """The app's reply to `message` (an error reply if the process dies or the run is stopped)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            clientapp_process.write_frames(self._process.stdin, clientapp_process.encode(message, context))
            while not select.select([self._process.stdout], [], [], CANCEL_CHECK_S)[0]:
                if cancelled.is_set():  # the run was stopped: the SuperNode no longer wants the answer
                    self._process.kill()
                    raise EOFError("the run was stopped")
            frames = clientapp_process.read_frames(self._process.stdout, 2)
        except (OSError, EOFError):
            frames = None
        self.last_used = time.monotonic()
        if frames is None:
            self.stop()
            reason = f"the ClientApp process exited with status {self._process.returncode} without a reply"
            return Message(Error(code=ErrorCode.CLIENT_APP_CRASHED, reason=reason), reply_to=message), context
        return clientapp_process.decode(frames)

    def stop(self) -> None:
        """End the process (closing its stdin ends it cleanly; a process that hangs is killed)."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with suppress(OSError):  # it died with bytes still unread
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._scratch.cleanup()


class AppProcesses:
    """The gate's ClientApp processes: at most one, that of the run whose message it answers last."""

    def __init__(self) -> None:
        self._current: AppProcess | None = None

    def for_run(self, run_id: int, bundle: AppBundle, fab: bytes) -> AppProcess:
        """The live process of this run and app, started if there is none."""
        current = self._current
        if current is None or not current.alive or current.serves != (run_id, bundle.fab_hash):
            self.stop()
            self._current = current = AppProcess(run_id, bundle, fab)
        return current

    def stop_idle(self, idle_s: float) -> None:
        """Stop the process if it has waited more than `idle_s` seconds for a message."""
        if self._current is not None and time.monotonic() - self._current.last_used > idle_s:
            self.stop()

    def stop(self) -> None:
        """Stop the process, if any."""
        if self._current is not None:
            self._current.stop()
            self._current = None


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
