"""Deployment with real processes: the coordinator (a loopback SuperLink behind the Fleet gateway, TLS, node
authentication) and three hospitals, each `cardiofed hospital join` (a SuperNode and the hospital's gate).

One federation (module fixture) serves every test: hospital `south` holds one corrupt record, `east` is
killed and restarted, the coordinator is killed and resumed, strangers try to get in, and apps nobody
approved (a foreign app, the cardiofed app changed by one byte) are submitted and must not run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flower_apps import app_pyproject

from client.approvals import read_app
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
from shared.processes import sessions_of, signal_sessions, stop_sessions

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

REPO = Path(__file__).resolve().parents[1]
CERTS_SH = REPO / "deploy" / "certs.sh"
CARDIOFED = Path(sys.executable).parent / "cardiofed"
FLWR = Path(sys.executable).parent / "flwr"
HOSPITALS = ("east", "north", "south")
#: Small and fast: 30 ECGs per hospital at 100 Hz, one local epoch; short timeouts so faults show quickly.
RUN = {"model": "resnet1d", "local-epochs": 1, "batch-size": 16, "sample-rate": 100, "round-timeout-s": 60.0}

FOREIGN_PYPROJECT = app_pyproject(
    "harvester", "stranger", "harvest_server:app", "harvest_client:app",
    config='marker = ""\nloot = ""\nsmuggle = "reply"\n',
)  # fmt: skip
#: What a stranger would run at a hospital: read the data folder, leave a mark, send the bytes home.
FOREIGN_CLIENT = """\
from pathlib import Path
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.clientapp import ClientApp

app = ClientApp()


@app.query()
def harvest(message, context):
    Path(str(context.run_config["marker"])).write_text("foreign code ran at a hospital")
    data = Path(str(context.node_config["data-path"]))
    files = sorted(str(path) for path in data.rglob("*"))
    signal = list(next(data.rglob("*.dat")).read_bytes()[:64])
    if context.run_config["smuggle"] == "error":  # the bytes in an exception's message
        raise ValueError(f"could not parse {files}: {signal}")
    return Message(RecordDict({"loot": ConfigRecord({"files": files, "signal": signal})}), reply_to=message)
"""
FOREIGN_SERVER = """\
import json
import time
from pathlib import Path
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import ServerApp

app = ServerApp()


@app.main()
def main(grid, context):
    deadline = time.monotonic() + 60
    while len(list(grid.get_node_ids())) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    asks = [Message(RecordDict({"q": ConfigRecord({})}), n, MessageType.QUERY) for n in grid.get_node_ids()]
    replies = grid.send_and_receive(asks, timeout=60)
    loot = [{"error": r.error.reason} if r.has_error() else {"records": list(r.content)} for r in replies]
    Path(str(context.run_config["loot"])).write_text(json.dumps(loot))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop a process we started and every process in the sessions of its tree (detached ones too)."""
    sessions = sessions_of([process.pid]) | {process.pid}
    if sig == signal.SIGKILL:
        signal_sessions(sessions, signal.SIGKILL)
    else:
        stop_sessions(sessions, grace_s=20)
    process.wait()


@dataclass
class Federation:
    root: Path
    coordinator: Coordinator
    process: subprocess.Popen  # `cardiofed coordinator start`
    nodes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def state(self, hospital: str) -> Path:
        return self.root / "hospitals" / hospital / "state"

    def settings(self, hospital: str, key: Path | None = None) -> HospitalNodeSettings:
        return HospitalNodeSettings(
            superlink=self.coordinator.address,
            hospital=hospital,
            data_path=self.root / "data" / hospital,
            ca_certificate=self.coordinator.certs_dir / "ca.crt",
            private_key=key or self.root / "keys" / f"{hospital}.key",
            state_dir=self.state(hospital),
            runtime_port=_free_port(),
        )

    def launch(self, command: list[str], hospital: str) -> subprocess.Popen:
        folder = self.root / "hospitals" / hospital
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "FLWR_HOME": str(folder / "flwr-home")}
        with (folder / "supernode.log").open("ab") as log:
            return subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def join(self, hospital: str) -> None:
        """`cardiofed hospital join`, as the hospital runs it."""
        settings = self.settings(hospital)
        self.nodes[hospital] = self.launch(
            [str(CARDIOFED), "hospital", "join", "--superlink", settings.superlink, "--hospital-id", hospital,
             "--data", str(settings.data_path), "--ca", str(settings.ca_certificate),
             "--key", str(settings.private_key), "--state", str(settings.state_dir),
             "--runtime-port", str(settings.runtime_port)],
            hospital,
        )  # fmt: skip

    def restart_coordinator(self) -> None:
        self.process = start_coordinator(self.coordinator)
        wait_until_serving(self.coordinator, self.process)

    def wait_online(self, count: int, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if sum(n["status"] == "online" for n in registered_nodes(self.coordinator)) >= count:
                return
            time.sleep(1.0)
        raise AssertionError(f"{count} SuperNodes did not come online in {timeout_s:.0f}s")

    def runs_seen(self, hospital: str) -> list[dict[str, Any]]:
        audit = self.state(hospital) / "audit.jsonl"
        lines = audit.read_text().splitlines() if audit.is_file() else []
        return [entry for entry in map(json.loads, lines) if entry["type"] == "run"]


def _cardiofed(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([CARDIOFED, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("deployment")
    for seed, hospital in enumerate(HOSPITALS):
        generate_hospitals(
            root / "data" / hospital, hospitals=1, records_per_hospital=30, seed=seed,
            sample_rate=100, mi_prevalence=[0.4],
        )  # fmt: skip
        subprocess.run([CERTS_SH, "hospital", root / "keys", hospital], check=True)
    # A damaged file at one hospital: the data layer skips the record and the census reports it.
    corrupt = sorted((root / "data" / "south").rglob("*.dat"))[0]
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    subprocess.run([CERTS_SH, "federation", root / "certs"], check=True)
    coordinator = Coordinator(
        root / "coordinator", root / "certs", port=_free_port(), control_port=_free_port()
    )
    federation = Federation(root, coordinator, start_coordinator(coordinator))
    try:
        wait_until_serving(coordinator, federation.process)
        for hospital in HOSPITALS:
            register_hospital(coordinator, root / "keys" / f"{hospital}.pub", hospital)
            approved = _cardiofed("hospital", "approve", "--state", federation.state(hospital), REPO)
            assert approved.returncode == 0, approved.stderr
            federation.join(hospital)
        federation.wait_online(len(HOSPITALS))
        yield federation
    finally:
        for node in federation.nodes.values():
            _stop(node)
        _stop(federation.process)


def _submit(federation: Federation, run: str, app: Path | None = None, **config: Any) -> dict[str, Any]:
    overrides = {**RUN, "run-dir": str(federation.root / run), "expected-hospitals": 3, **config}
    return json.loads(submit_experiment(federation.coordinator, overrides, app=app).read_text())


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "progress.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def _wait_for_event(run_dir: Path, kind: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(e["event"] == kind for e in _events(run_dir)):
        assert time.monotonic() < deadline, f"no {kind!r} event in {run_dir} after {timeout_s:.0f}s"
        time.sleep(0.2)


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() else "(no log)"


def _foreign_app(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text(FOREIGN_PYPROJECT)
    (folder / "harvest_client.py").write_text(FOREIGN_CLIENT)
    (folder / "harvest_server.py").write_text(FOREIGN_SERVER)
    return folder


def _flwr_run(app: Path, flwr_home: Path, run_config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLWR_HOME": str(flwr_home)}
    return subprocess.run(
        [str(FLWR), "run", str(app), "cardiofed", "--stream", "--run-config", str(run_config)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_loho_through_the_superlink_reports_the_corrupt_record(federation: Federation) -> None:
    results = _submit(federation, "loho", protocol="loho", rounds=1)

    assert [fold["held_out"] for fold in results["folds"]] == list(HOSPITALS)
    assert results["hospitals"]["south"]["census"]["skipped"] == 1
    assert results["hospitals"]["south"]["census"]["records"]["all"] == 29
    assert results["hospitals"]["north"]["census"]["skipped"] == 0
    approved_hash = read_app(REPO).fab_hash
    for hospital in HOSPITALS:  # each hospital's own audit log shows what it sent, and only from its node
        audit = federation.state(hospital) / "audit.jsonl"
        types = {json.loads(line)["type"] for line in audit.read_text().splitlines()}
        assert {"run", "query", "train", "evaluate"} <= types
        run_line = federation.runs_seen(hospital)[-1]
        assert (run_line["decision"], run_line["fab_hash"]) == ("approved", approved_hash)


def test_a_stranger_with_the_ca_certificate_cannot_submit_at_the_hospitals_port(
    federation: Federation, tmp_path: Path
) -> None:
    app = _foreign_app(tmp_path / "harvester")
    stranger_home = tmp_path / "stranger-flwr-home"
    stranger_home.mkdir()
    ca = federation.coordinator.certs_dir / "ca.crt"
    (stranger_home / "config.toml").write_text(
        f'[superlink]\ndefault = "cardiofed"\n\n[superlink.cardiofed]\n'
        f'address = "{federation.coordinator.address}"\nroot-certificates = "{ca}"\n'
    )
    run_config = tmp_path / "run-config.toml"
    run_config.write_text(f'marker = "{tmp_path / "marker"}"\nloot = "{tmp_path / "loot.json"}"\n')
    runs_before = {h: len(federation.runs_seen(h)) for h in HOSPITALS}

    submitted = _flwr_run(app, stranger_home, run_config)

    assert submitted.returncode != 0, submitted.stdout
    assert not (tmp_path / "marker").exists() and not (tmp_path / "loot.json").exists()
    assert {h: len(federation.runs_seen(h)) for h in HOSPITALS} == runs_before  # no run ever reached them
    # The port hospitals use answers the Fleet API and the health check, and refuses everything else.
    tls = ssl.create_default_context(cafile=str(ca))
    base = f"https://{federation.coordinator.address}"
    with urllib.request.urlopen(f"{base}/health", context=tls, timeout=10) as health:
        assert health.status == 200
    for path in ("/v1/control/start-run", "/v1/control/list-runs", "/v1/runtime/acquire-task"):
        request = urllib.request.Request(f"{base}{path}", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, context=tls, timeout=10)
        assert refused.value.code == 403
        assert "hospitals reach the Fleet API only" in refused.value.read().decode()


def test_a_foreign_app_submitted_by_the_coordinator_runs_nowhere(
    federation: Federation, tmp_path: Path
) -> None:
    app = _foreign_app(tmp_path / "harvester")
    foreign_hash = read_app(app).fab_hash
    run_config = tmp_path / "run-config.toml"
    run_config.write_text(f'marker = "{tmp_path / "marker"}"\nloot = "{tmp_path / "loot.json"}"\n')

    submitted = _flwr_run(
        app, federation.coordinator.flwr_home, run_config
    )  # the coordinator's own connection

    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    loot = json.loads((tmp_path / "loot.json").read_text())  # written by the foreign ServerApp, on our side
    assert sorted(reply["error"] for reply in loot) == [
        f"app {foreign_hash} is not approved at hospital {hospital}" for hospital in HOSPITALS
    ]
    assert not (tmp_path / "marker").exists()  # none of its code ran at any hospital
    for hospital in HOSPITALS:
        line = federation.runs_seen(hospital)[-1]
        assert (line["decision"], line["fab_hash"], line["publisher"], line["name"]) == (
            "refused", foreign_hash, "stranger", "harvester"
        )  # fmt: skip
        listed = _cardiofed("hospital", "apps", "--state", federation.state(hospital))
        assert f"app {foreign_hash} is not approved at hospital {hospital}" in listed.stdout


def test_a_changed_app_is_refused_until_approved_and_after_revocation(
    federation: Federation, tmp_path: Path
) -> None:
    changed = tmp_path / "cardiofed-changed"
    shutil.copytree(
        REPO,
        changed,
        ignore=shutil.ignore_patterns(".*", "runs", "*.egg-info", "__pycache__", "tests", "bench"),
    )
    with (changed / "client" / "__init__.py").open("ab") as one_more_byte:
        one_more_byte.write(b"#")
    changed_hash = read_app(changed).fab_hash
    assert changed_hash != read_app(REPO).fab_hash

    with pytest.raises(LaunchError):  # nobody approved it: every hospital refuses the census
        _submit(federation, "changed-unapproved", app=changed, protocol="pooled", rounds=1)
    problems = [
        e["message"]
        for e in _events(federation.root / "changed-unapproved")
        if e["event"] == "census-problem"
    ]
    for hospital in HOSPITALS:
        assert any(f"app {changed_hash} is not approved at hospital {hospital}" in p for p in problems)

    for hospital in ("east", "north"):  # two hospitals review and approve the new bundle
        assert (
            _cardiofed("hospital", "approve", "--state", federation.state(hospital), changed).returncode == 0
        )
    results = _submit(federation, "changed-approved", app=changed, protocol="pooled", rounds=1)
    assert sorted(results["hospitals"]) == ["east", "north"]
    assert any(
        f"app {changed_hash} is not approved at hospital south" in p for p in results["census_problems"]
    )

    revoked = _cardiofed(
        "hospital", "approve", "--state", federation.state("north"), "--revoke", changed_hash[:12]
    )
    assert revoked.returncode == 0, revoked.stderr
    with pytest.raises(LaunchError):  # east alone is not a federation
        _submit(federation, "changed-revoked", app=changed, protocol="pooled", rounds=1)
    assert federation.runs_seen("north")[-1]["decision"] == "refused"
    assert federation.runs_seen("east")[-1]["decision"] == "approved"


@pytest.mark.parametrize("smuggle", ["reply", "error"])
def test_the_hospitals_guard_blocks_what_an_approved_app_tries_to_send(
    federation: Federation, tmp_path: Path, smuggle: str
) -> None:
    app = _foreign_app(tmp_path / "harvester")
    for hospital in HOSPITALS:  # a careless review: the hospitals approve the harvester
        assert _cardiofed("hospital", "approve", "--state", federation.state(hospital), app).returncode == 0
    run_config = tmp_path / "run-config.toml"
    run_config.write_text(
        f'marker = "{tmp_path / "marker"}"\nloot = "{tmp_path / "loot.json"}"\nsmuggle = "{smuggle}"\n'
    )
    try:
        submitted = _flwr_run(app, federation.coordinator.flwr_home, run_config)
    finally:
        for hospital in HOSPITALS:
            _cardiofed(
                "hospital",
                "approve",
                "--state",
                federation.state(hospital),
                "--revoke",
                read_app(app).fab_hash,
            )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr

    assert (tmp_path / "marker").exists()  # approved, so its code ran: the guard is what stands between
    loot = json.loads((tmp_path / "loot.json").read_text())
    assert len(loot) == len(HOSPITALS)
    assert all("egress guard withheld the reply" in reply["error"] for reply in loot), loot
    assert not any(".dat" in reply["error"] or "records" in reply for reply in loot)
    for hospital in HOSPITALS:
        audit = [
            json.loads(line) for line in (federation.state(hospital) / "audit.jsonl").read_text().splitlines()
        ]
        blocked = audit[-1]
        assert blocked["type"] == "query" and blocked["blocked"], blocked
        assert ".dat" not in blocked["error"]  # what left is the guard's error, not the app's


def test_killed_hospital_is_recorded_and_rejoins_after_restart(federation: Federation) -> None:
    run_dir = federation.root / "node-killed"
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            # The dead node costs round 1 its whole timeout, so the live ones get ample time to answer: on a
            # loaded 2-core machine a hospital's first reply (its ClientApp process starting) took over 60 s.
            outcome["results"] = _submit(
                federation, "node-killed", protocol="pooled", rounds=3, **{"round-timeout-s": 180.0}
            )
        except LaunchError as error:
            outcome["error"] = error

    worker = threading.Thread(target=run)
    worker.start()
    _wait_for_event(run_dir, "census")  # the first train round is on its way
    _stop(federation.nodes["east"], signal.SIGKILL)
    _wait_for_event(run_dir, "round")
    federation.join("east")  # same key, so the SuperLink gives it back the same node id
    worker.join(timeout=600)

    assert "results" in outcome, f"{outcome.get('error')}: {_tail(run_dir / 'flwr-run.log')}"
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
    _stop(federation.process, signal.SIGKILL)  # gateway, SuperLink and ServerApp: the coordinator is gone
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
    node = federation.launch([*command, "--max-retries", "2"], "no-ca")
    try:
        node.wait(timeout=60)
    finally:
        _stop(node)
    assert node.returncode != 0
    log = (federation.root / "hospitals" / "no-ca" / "supernode.log").read_text()
    assert "CERTIFICATE_VERIFY_FAILED" in log or "certificate verify failed" in log.lower()
