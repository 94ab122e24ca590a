"""The coordinator in a real deployment: a Flower SuperLink over TLS that admits registered hospitals only.

Two ports, two audiences. The SuperLink itself listens on loopback only (`control_port`): its Control API
(run submission, node registration) and its Runtime API are for this machine alone. Hospitals reach the
public port (`host:port`), where the Fleet gateway (server/fleet_gateway.py) serves Flower's Fleet API and
nothing else, so a party that can reach the hospitals' address cannot submit a run.

Everything the coordinator keeps lives in one state folder: the SuperLink's database (registered hospital
keys, runs, messages; it survives restarts), its log file, and the Flower CLI's home with the connection
`cardiofed` (to the loopback port) that `register`, `nodes` and `submit` use. Experiments are submitted with
`flwr run` exactly as in the simulation launcher, whose SuperExec runs the ServerApp on this machine.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.fleet_gateway import GatewaySettings, serve_gateway
from server.launcher import LaunchError, experiment_config, follow_progress, toml_value
from server.progress import end_offset
from shared.config import app_dir
from shared.processes import sigterm_raises_exit, stop_process, stop_service

CONNECTION = "cardiofed"
#: The public port hospitals connect to (the Fleet gateway).
DEFAULT_PORT = 9093
#: The SuperLink's own port, on loopback: run submission and registration from this machine only.
DEFAULT_CONTROL_PORT = 9092
STARTUP_S = 30.0


@dataclass(frozen=True)
class Coordinator:
    """Where the coordinator listens and where its certificates and state are."""

    state_dir: Path
    certs_dir: Path  # from `deploy/certs.sh federation`: ca.crt, superlink.crt, superlink.key
    host: str = "127.0.0.1"  # where the Fleet gateway listens for hospitals
    port: int = DEFAULT_PORT
    control_port: int = DEFAULT_CONTROL_PORT  # the SuperLink's own, on 127.0.0.1

    @property
    def address(self) -> str:
        """HOST:PORT as hospitals reach the coordinator (the Fleet gateway)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def control_address(self) -> str:
        """HOST:PORT of the SuperLink itself, as the Flower CLI on this machine reaches it."""
        return f"127.0.0.1:{self.control_port}"

    @property
    def flwr_home(self) -> Path:
        """FLWR_HOME of the Flower CLI calls made for this coordinator."""
        return self.state_dir / "flwr-home"

    @property
    def log_file(self) -> Path:
        """The SuperLink's own log (Flower rotates it)."""
        return self.state_dir / "superlink.log"


def superlink_command(coordinator: Coordinator) -> list[str]:
    """The `flower-superlink` command line: loopback only, TLS, node authentication, persistent state."""
    certs = coordinator.certs_dir
    return [
        "flower-superlink",
        "--ssl-ca-certfile", str(_required(certs / "ca.crt", "the federation CA certificate")),
        "--ssl-certfile", str(_required(certs / "superlink.crt", "the SuperLink's TLS certificate")),
        "--ssl-keyfile", str(_required(certs / "superlink.key", "the SuperLink's TLS key")),
        "--enable-supernode-auth",
        "--database", str(coordinator.state_dir / "state.db"),
        "--log-file", str(coordinator.log_file),
        # Flower serves its Control, Runtime and Fleet APIs on this one address: keep it off the network.
        "--host", "127.0.0.1",
        "--port", str(coordinator.control_port),
        # The app runs in this environment; the SuperLink must never `uv sync` its dependencies.
        "--disable-runtime-dependency-installation",
    ]  # fmt: skip


def prepare(coordinator: Coordinator) -> dict[str, str]:
    """Create the state folder and the CLI connection; returns the environment for Flower's commands."""
    coordinator.flwr_home.mkdir(parents=True, exist_ok=True)
    ca = _required(coordinator.certs_dir / "ca.crt", "the federation CA certificate").resolve()
    (coordinator.flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
        f"address = {toml_value(coordinator.control_address)}\nroot-certificates = {toml_value(str(ca))}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "FLWR_HOME": str(coordinator.flwr_home)}
    # Flower's executables live beside this interpreter (the project's virtual environment).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_coordinator(coordinator: Coordinator) -> None:
    """Run the SuperLink (loopback) and the Fleet gateway (public) in the foreground until stopped."""
    env = prepare(coordinator)
    certs = coordinator.certs_dir
    gateway = GatewaySettings(
        host=coordinator.host,
        port=coordinator.port,
        upstream=f"https://{coordinator.control_address}",
        ca_certificate=certs / "ca.crt",
        certificate=certs / "superlink.crt",
        key=certs / "superlink.key",
    )
    with sigterm_raises_exit():
        superlink = subprocess.Popen(
            superlink_command(coordinator), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_health(coordinator, f"https://{coordinator.control_address}/health", superlink)
            serve_gateway(gateway)
        finally:
            stop_service(superlink)


def start_coordinator(coordinator: Coordinator) -> subprocess.Popen:
    """`cardiofed coordinator start` in the background, in a session of its own (stopped with its children).

    Its output goes to `coordinator.out` in the state folder.
    """
    coordinator.state_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "shared.commands.cli", "coordinator", "start",
        "--state", str(coordinator.state_dir), "--certs", str(coordinator.certs_dir),
        "--host", coordinator.host, "--port", str(coordinator.port),
        "--control-port", str(coordinator.control_port),
    ]  # fmt: skip
    with (coordinator.state_dir / "coordinator.out").open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_serving(coordinator: Coordinator, process: subprocess.Popen | None = None) -> None:
    """Block until the coordinator answers its TLS health check on the hospitals' port.

    The check goes through the Fleet gateway to the SuperLink, so both are up when it returns. `process`,
    when this process started the coordinator, fails the wait as soon as it exits.
    """
    _wait_for_health(coordinator, f"https://{coordinator.address}/health", process)


def register_hospital(coordinator: Coordinator, public_key: Path, hospital: str) -> int:
    """Admit a hospital: register its SuperNode public key with the SuperLink; returns its node id.

    A SuperLink that is still starting is waited for (up to STARTUP_S), so this can follow `start` directly.
    """
    _required(public_key, f"the public key of hospital {hospital}")
    wait_until_serving(coordinator)
    completed = subprocess.run(
        ["flwr", "supernode", "register", str(public_key), CONNECTION, "--name", hospital,
         "--format", "json"],
        env=prepare(coordinator), capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        answer = json.loads(completed.stdout[completed.stdout.index("{") :])
        return int(answer["node-id"])
    except (ValueError, KeyError) as error:
        detail = (completed.stdout + completed.stderr).strip()
        raise LaunchError(f"could not register {public_key} for hospital {hospital}: {detail}") from error


def registered_nodes(coordinator: Coordinator) -> list[dict[str, Any]]:
    """The SuperNodes the SuperLink knows (`flwr supernode list`): node id, status, name..."""
    completed = subprocess.run(
        ["flwr", "supernode", "list", CONNECTION, "--format", "json"],
        env=prepare(coordinator), capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return list(json.loads(completed.stdout[completed.stdout.index("{") :])["nodes"])
    except (ValueError, KeyError) as error:
        detail = (completed.stdout + completed.stderr).strip()
        raise LaunchError(f"could not list the SuperNodes of {coordinator.address}: {detail}") from error


def submit_experiment(
    coordinator: Coordinator,
    overrides: dict[str, Any],
    on_event: Callable[[dict[str, Any]], None] | None = None,
    app: Path | None = None,
) -> Path:
    """Run an experiment on the connected hospitals and wait for it; returns the path of results.json.

    `overrides` are run-config keys; `run-dir` must be set (the ServerApp writes there, on this machine)
    and `expected-hospitals` says how many hospitals the census waits for. `app` is the app folder to
    submit (default: this installation's); hospitals run it only if they approved its exact FAB.
    """
    config = experiment_config(overrides)
    run_dir = Path(config.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        for stale in ("progress.jsonl", "checkpoint.pkl", "results.json"):
            (run_dir / stale).unlink(missing_ok=True)
    run_config_file = run_dir / "run-config.toml"
    values = {**overrides, "run-dir": str(run_dir)}
    run_config_file.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in sorted(values.items())))
    log_path = run_dir / "flwr-run.log"
    with log_path.open("ab") as log, sigterm_raises_exit():
        first_event = end_offset(run_dir)
        submitted = str(app or app_dir())
        flwr_run = subprocess.Popen(
            ["flwr", "run", submitted, CONNECTION, "--stream", "--run-config", str(run_config_file)],
            env=prepare(coordinator), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            follow_progress(run_dir, flwr_run, on_event, first_event)
        finally:
            stop_process(flwr_run)
    results = run_dir / "results.json"
    if not results.is_file():
        raise LaunchError(f"the run ended without results; see {log_path} and {coordinator.log_file}")
    return results


def _wait_for_health(coordinator: Coordinator, url: str, process: subprocess.Popen | None) -> None:
    tls = ssl.create_default_context(cafile=str(coordinator.certs_dir / "ca.crt"))
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LaunchError(
                f"the coordinator exited with status {process.returncode}; see {coordinator.log_file}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0, context=tls) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise LaunchError(
        f"the coordinator did not serve {url} within {STARTUP_S:.0f}s; see {coordinator.log_file}"
    )


def _required(path: Path, what: str) -> Path:
    if not path.is_file():
        raise LaunchError(f"{path} not found: {what} (make it with deploy/certs.sh)")
    return path
