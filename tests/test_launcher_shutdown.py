"""Stopping a service stops everything it started, detached or not; SIGTERM runs `finally` clauses.

Processes are followed by id and session (never by name: other Flower runs may share the machine). A real
`cardiofed run` stopped by SIGTERM is tests/test_federation.py's (it then resumes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from shared.processes import members, stop_service


def test_stop_service_also_stops_what_it_detached(tmp_path: Path) -> None:
    # A service that, like the SuperLink with its SuperExec, starts a child in a session of its own.
    detached_pid = tmp_path / "detached.pid"
    service = subprocess.Popen(
        ["bash", "-c", f"setsid bash -c 'echo $$ > {detached_pid}; exec sleep 300' & sleep 300"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not detached_pid.is_file() or not detached_pid.read_text().strip():
        assert time.monotonic() < deadline, "the service did not start its detached child"
        time.sleep(0.05)
    detached_session = os.getsid(int(detached_pid.read_text()))
    assert detached_session not in (os.getsid(service.pid), os.getsid(0))  # really detached

    stop_service(service, grace_s=5)

    assert service.returncode == -signal.SIGTERM
    assert members({detached_session}) == []


def test_sigterm_runs_finally_clauses(tmp_path: Path) -> None:
    marker = tmp_path / "cleaned-up"
    script = textwrap.dedent(f"""
        import time
        from shared.processes import sigterm_raises_exit
        with sigterm_raises_exit():
            try:
                print("ready", flush=True)
                time.sleep(60)
            finally:
                open({str(marker)!r}, "w").close()
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM
    assert marker.is_file()
