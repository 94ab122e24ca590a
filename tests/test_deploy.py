"""Deployment with real processes: a TLS SuperLink with node authentication and three hospital SuperNodes.

One federation (module fixture) serves every test: hospital `south` holds one corrupt record, `east` is
killed and restarted, the coordinator is killed and resumed, and strangers try to get in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.hospital_commands import HospitalNodeSettings, supernode_command
from server.deployment import (
    Coordinator,
    register_hospital,
    registered_nodes,
    start_coordinator,
    submit_experiment,
    wait_until_serving,
)
from server.launcher import LaunchError
from shared.data.synthetic import generate_hospitals

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

REPO = Path(__file__).resolve().parents[1]
CERTS_SH = REPO / "deploy" / "certs.sh"
HOSPITALS = ("east", "north", "south")
#: Small and fast: 30 ECGs per hospital at 100 Hz, one local epoch; short timeouts so faults show quickly.
RUN = {"model": "resnet1d", "local-epochs": 1, "batch-size": 16, "sample-rate": 100, "round-timeout-s": 60.0}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop a process we started together with its process group (the Flower apps it spawned)."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Federation:
    root: Path
    coordinator: Coordinator
    superlink: subprocess.Popen
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def env(self, hospital: str) -> dict[str, str]:
        return {
            **os.environ,
            "FLWR_HOME": str(self.root / "hospitals" / hospital / "flwr-home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }

    def settings(self, hospital: str, key: Path | None = None) -> HospitalNodeSettings:
        return HospitalNodeSettings(
            superlink=self.coordinator.address,
            hospital=hospital,
            data_path=self.root / "data" / hospital,
            ca_certificate=self.coordinator.certs_dir / "ca.crt",
            private_key=key or self.root / "keys" / f"{hospital}.key",
            state_dir=self.root / "hospitals" / hospital / "state",
            runtime_port=_free_port(),
        )

    def launch(self, command: list[str], hospital: str) -> subprocess.Popen:
        log = (self.root / "hospitals" / hospital).joinpath("supernode.log").open("ab")
        return subprocess.Popen(
            command, env=self.env(hospital), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def join(self, hospital: str) -> None:
        self.nodes[hospital] = self.launch(supernode_command(self.settings(hospital)), hospital)

    def restart_coordinator(self) -> None:
        self.superlink = start_coordinator(self.coordinator)
        wait_until_serving(self.coordinator, self.superlink)

    def wait_online(self, count: int, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum(n["status"] == "online" for n in registered_nodes(self.coordinator)) >= count:
                return
            time.sleep(1.0)
        raise AssertionError(f"{count} SuperNodes did not come online in {timeout_s:.0f}s")


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("deployment")
    for seed, hospital in enumerate(HOSPITALS):
        generate_hospitals(
            root / "data" / hospital, hospitals=1, records_per_hospital=30, seed=seed,
            sample_rate=100, mi_prevalence=[0.4],
        )  # fmt: skip
        (root / "hospitals" / hospital).mkdir(parents=True)
        subprocess.run([CERTS_SH, "hospital", root / "keys", hospital], check=True)
    # A damaged file at one hospital: the data layer skips the record and the census reports it.
    corrupt = sorted((root / "data" / "south").rglob("*.dat"))[0]
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    subprocess.run([CERTS_SH, "federation", root / "certs"], check=True)
    coordinator = Coordinator(root / "coordinator", root / "certs", port=_free_port())
    federation = Federation(root, coordinator, start_coordinator(coordinator))
    try:
        wait_until_serving(coordinator, federation.superlink)
        for hospital in HOSPITALS:
            register_hospital(coordinator, root / "keys" / f"{hospital}.pub", hospital)
            federation.join(hospital)
        federation.wait_online(len(HOSPITALS))
        yield federation
    finally:
        for node in federation.nodes.values():
            _stop(node)
        _stop(federation.superlink)


def _submit(federation: Federation, run: str, **config: Any) -> dict[str, Any]:
    overrides = {**RUN, "run-dir": str(federation.root / run), "expected-hospitals": 3, **config}
    return json.loads(submit_experiment(federation.coordinator, overrides).read_text())


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "progress.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _wait_for_event(run_dir: Path, kind: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(e["event"] == kind for e in _events(run_dir)):
        assert time.monotonic() < deadline, f"no {kind!r} event in {run_dir} after {timeout_s:.0f}s"
        time.sleep(0.2)


def test_loho_through_the_superlink_reports_the_corrupt_record(federation: Federation) -> None:
    results = _submit(federation, "loho", protocol="loho", rounds=1)

    assert [fold["held_out"] for fold in results["folds"]] == list(HOSPITALS)
    assert results["hospitals"]["south"]["census"]["skipped"] == 1
    assert results["hospitals"]["south"]["census"]["records"]["all"] == 29
    assert results["hospitals"]["north"]["census"]["skipped"] == 0
    for hospital in HOSPITALS:  # each hospital's own audit log shows what it sent, and only from its node
        audit = federation.root / "hospitals" / hospital / "state" / "audit.jsonl"
        types = {json.loads(line)["type"] for line in audit.read_text().splitlines()}
        assert {"query", "train", "evaluate"} <= types


def test_killed_hospital_is_recorded_and_rejoins_after_restart(federation: Federation) -> None:
    run_dir = federation.root / "node-killed"
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(results=_submit(federation, "node-killed", protocol="pooled", rounds=3))
    )
    worker.start()
    _wait_for_event(run_dir, "census")  # the first train round is on its way
    _stop(federation.nodes["east"], signal.SIGKILL)
    _wait_for_event(run_dir, "round")
    federation.join("east")  # same key, so the SuperLink gives it back the same node id
    worker.join(timeout=600)

    rounds = outcome["results"]["rounds"]
    assert "east" in rounds[0]["failed"]
    assert sorted(rounds[0]["trained"]) == ["north", "south"]
    assert "east" in rounds[-1]["trained"]
    assert "done" in {e["event"] for e in _events(run_dir)}


def test_coordinator_killed_mid_run_resumes_from_checkpoint(federation: Federation) -> None:
    run_dir = federation.root / "coordinator-killed"
    interrupted: list[LaunchError] = []

    def doomed_run() -> None:
        try:
            _submit(federation, "coordinator-killed", protocol="pooled", rounds=3)
        except LaunchError as error:
            interrupted.append(error)

    worker = threading.Thread(target=doomed_run)
    worker.start()
    _wait_for_event(run_dir, "round")
    _stop(federation.superlink, signal.SIGKILL)  # and the ServerApp it spawned: the coordinator is gone
    worker.join(timeout=120)
    assert interrupted and not (run_dir / "results.json").exists()

    federation.restart_coordinator()  # same state database: the hospitals stay registered and reconnect
    federation.wait_online(len(HOSPITALS))
    results = _submit(federation, "coordinator-killed", protocol="pooled", rounds=3, resume=True)

    events = _events(run_dir)
    resumed_at = next(i for i, e in enumerate(events) if e["event"] == "resumed")
    rounds_after_resume = [e["round"] for e in events[resumed_at:] if e["event"] == "round"]
    assert rounds_after_resume[0] > 1  # continued from the checkpoint, not from scratch
    assert [r["round"] for r in results["rounds"]] == [1, 2, 3]


def test_unregistered_key_cannot_join(federation: Federation) -> None:
    stranger = federation.root / "keys-stranger"
    subprocess.run([CERTS_SH, "hospital", stranger, "stranger"], check=True)
    (federation.root / "hospitals" / "stranger").mkdir(exist_ok=True)
    settings = federation.settings("north", key=stranger / "stranger.key")
    node = federation.launch([*supernode_command(settings), "--max-retries", "2"], "stranger")
    try:
        node.wait(timeout=60)
    finally:
        _stop(node)
    assert node.returncode != 0
    assert len(registered_nodes(federation.coordinator)) == len(HOSPITALS)


def test_client_without_the_ca_certificate_cannot_connect(federation: Federation) -> None:
    command = supernode_command(federation.settings("north"))
    at = command.index("--root-certificates")
    del command[at : at + 2]  # the system trust store does not know the federation CA
    (federation.root / "hospitals" / "no-ca").mkdir(exist_ok=True)
    node = federation.launch([*command, "--max-retries", "2"], "no-ca")
    try:
        node.wait(timeout=60)
    finally:
        _stop(node)
    assert node.returncode != 0
    log = (federation.root / "hospitals" / "no-ca" / "supernode.log").read_text()
    assert "CERTIFICATE_VERIFY_FAILED" in log or "certificate verify failed" in log.lower()
