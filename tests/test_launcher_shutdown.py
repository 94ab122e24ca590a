"""Stopping a run stops everything it started: SuperLink, SuperExec, simulation and Ray, detached or not.

Processes are followed by id and session (never by name: other Flower runs may share the machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from federated import FAST_RUN

from server.processes import members, sessions_of, stop_service, stop_sessions


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


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
        from server.processes import sigterm_raises_exit
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


@pytest.mark.slow
def test_sigterm_to_cardiofed_run_leaves_no_flower_or_ray_process(
    synthetic_hospitals: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "server.cli", "run", "--data", str(synthetic_hospitals),
               "--out", str(run_dir), "--protocol", "pooled", "--rounds", "20"]  # fmt: skip
    command += [f"--set={key}={json.dumps(value)}" for key, value in FAST_RUN.items() if key != "rounds"]
    runner = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started: set[int] = set()
    try:
        progress = run_dir / "progress.jsonl"
        deadline = time.monotonic() + 300
        while not (progress.is_file() and '"event": "round"' in progress.read_text()):
            assert runner.poll() is None, "the run ended before it could be stopped"
            assert time.monotonic() < deadline, "no training round within 300 s"
            time.sleep(0.2)
        started = sessions_of([runner.pid])  # the run's own session and those Flower detached
        command_lines = " ".join(_command_line(pid) for pid in members(started))
        assert "flower-superlink" in command_lines and "flwr-simulation" in command_lines
        assert "ray" in command_lines  # the simulation's Ray cluster, training the hospitals

        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 128 + signal.SIGTERM  # a clean exit through `finally`
        assert members(started) == []
        assert not (run_dir / "results.json").exists()
    finally:  # whatever failed, leave nothing running
        stop_sessions(started | sessions_of([runner.pid]) | {runner.pid}, grace_s=5)
        runner.wait()
