"""Stopping what we started: a Flower service and every process it spawned, the detached ones included.

Flower runs apps in child processes, and the SuperLink detaches its SuperExec into a session of its own, so
a signal to the SuperLink's process group misses the ServerApp or the simulation (and Ray with it). A
service is therefore started as the leader of a new session and stopped by signalling every process in
the sessions of its process tree, read from /proc (Linux). Processes are chosen by id and session, never by
name: other Flower processes on the same machine are left alone.

`python -m shared.processes PID...` does the same for shell scripts (deploy/local-federation.sh).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType

#: How long a service may take to shut down after SIGTERM before it is killed.
STOP_GRACE_S = 15.0


def _process_table() -> dict[int, tuple[int, int, str]]:
    """Every process as pid -> (parent pid, session id, state letter)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # "pid (command) state ppid pgrp session ...": the command may contain spaces and parentheses.
        state, parent, _, session = stat[stat.rindex(")") + 2 :].split()[:4]
        table[int(entry.name)] = (int(parent), int(session), state)
    return table


def sessions_of(pids: Iterable[int]) -> set[int]:
    """The sessions of `pids` and of all their descendants."""
    table = _process_table()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (parent, _, _) in table.items():
        children[parent].append(pid)
    sessions, pending = set(), list(pids)
    while pending:
        pid = pending.pop()
        if pid in table:
            sessions.add(table[pid][1])
            pending.extend(children[pid])
    return sessions


def members(sessions: set[int]) -> list[int]:
    """The live processes (zombies excluded) in `sessions`, never in the caller's own session."""
    ours = sessions - {os.getsid(0)}  # the terminal's or the caller's session is not ours to stop
    return [pid for pid, (_, session, state) in _process_table().items() if session in ours and state != "Z"]


def signal_sessions(sessions: set[int], sig: signal.Signals) -> None:
    """Send `sig` to every live process in `sessions`."""
    for pid in members(sessions):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def stop_sessions(sessions: set[int], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM every process in `sessions`, give them `grace_s` to exit, then SIGKILL what is left."""
    signal_sessions(sessions, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while members(sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_sessions(sessions, signal.SIGKILL)


def stop_service(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop `process` (started with start_new_session=True), everything it spawned, and reap it."""
    # Its own session even if it has already exited: children it left behind may still be in it.
    stop_sessions(sessions_of([process.pid]) | {process.pid}, grace_s)
    process.wait()


def stop_process(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop one process we started that spawns nothing of its own (e.g. `flwr run`): SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def sigterm_raises_exit() -> Iterator[None]:
    """Within the block, SIGTERM raises SystemExit(143), so `finally` clauses stop what was started.

    Python's default SIGTERM ends the process at once, leaving its services running. A second SIGTERM
    during the shutdown that follows is ignored so that shutdown can finish. Only the main thread can
    install signal handlers; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str]) -> int:
    """`python -m shared.processes PID...`: stop those services and everything they spawned."""
    if not argv or not all(arg.isdigit() for arg in argv):
        print("usage: python -m shared.processes PID...", file=sys.stderr)
        return 2
    pids = [int(arg) for arg in argv]
    stop_sessions(sessions_of(pids) | set(pids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
