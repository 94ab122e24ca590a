"""`cardiofed run`: an experiment on Flower's simulation runtime, one virtual SuperNode per hospital.

The supported Flower path is used end to end: a SuperLink in simulation mode, then `flwr run` of this app
against it. The launcher starts that SuperLink itself, in a session of its own, so that it owns the process
and stops it with the SuperExec, simulation and Ray processes it spawned whatever happens (an error,
Ctrl-C or SIGTERM); it picks a free port so runs never collide, and disables runtime dependency
installation: the app runs in this environment, nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from server.progress import end_offset, read_events
from shared.config import RunConfig, app_dir, default_run_config
from shared.data import load_dataset
from shared.processes import sigterm_raises_exit, stop_process, stop_service

SUPERLINK_STARTUP_S = 30.0


class LaunchError(RuntimeError):
    """The experiment could not start or did not finish; the message says where to look."""


def experiment_config(overrides: dict[str, Any]) -> RunConfig:
    """Defaults from pyproject.toml plus `overrides` (Flower keys), validated before anything starts."""
    unknown = sorted(set(overrides) - set(default_run_config()))
    if unknown:
        raise LaunchError(f"unknown configuration keys: {', '.join(unknown)}")
    return RunConfig.from_flower({**default_run_config(), **overrides})


def count_hospitals(config: RunConfig) -> list[str]:
    """Load (and cache) the dataset once, so the virtual hospitals start warm; returns the hospital ids."""
    dataset = load_dataset(
        config.data_path,
        layout=config.layout,
        hospital_by=config.hospital_by,
        tasks=config.tasks,
        sample_rate=config.sample_rate,
        duration_s=config.duration_s,
        records=config.records,
    )
    if len(dataset.hospitals) < 2:
        raise LaunchError(
            f"{config.data_path} splits into {len(dataset.hospitals)} hospital(s) with --hospital-by "
            f"{config.hospital_by}; a federation needs at least 2"
        )
    return dataset.hospitals


def simulation_resources(protocol: str, hospitals: int) -> str:
    """Flower's simulation settings: one virtual SuperNode per hospital, and a GPU share on CUDA machines.

    Ray hides the GPU from a ClientApp that asks for none, so on a CUDA machine each asks for its share
    of the GPU (all of it for `centralized`, which trains at one node). The CPU share stays Flower's
    default of 2 cores per ClientApp: at test and benchmark sizes one 2-thread ClientApp at a time was
    faster on 2 cores than two 1-thread ones side by side (51-54 s vs 56-57 s for the tests' LOHO run).
    """
    at_once = 1 if protocol == "centralized" else hospitals
    gpus = round(1.0 / at_once, 4) if torch.cuda.is_available() else 0.0
    return f"num-supernodes={hospitals} client-resources-num-gpus={gpus}"


def run_simulation(
    overrides: dict[str, Any], on_event: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    """Run the experiment; returns the path of results.json. `on_event` sees each progress event."""
    config = experiment_config(overrides)
    if not config.data_path:
        raise LaunchError("no dataset: pass --data PATH")
    run_dir = Path(config.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        for stale in ("progress.jsonl", "checkpoint.pkl", "results.json"):
            (run_dir / stale).unlink(missing_ok=True)
        if not config.hospital_state_dir:  # a fresh run gets fresh simulated hospitals
            shutil.rmtree(run_dir / "hospitals", ignore_errors=True)
    flwr_home = run_dir / ".flwr"
    flwr_home.mkdir(exist_ok=True)
    port = _free_port()
    (flwr_home / "config.toml").write_text(
        '[superlink]\ndefault = "cardiofed"\n\n[superlink.cardiofed]\n'
        f'address = "127.0.0.1:{port}"\ninsecure = true\n'
    )
    env = {**os.environ, "FLWR_HOME": str(flwr_home)}
    # Flower's executables live beside this interpreter (the project's virtual environment).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log_path = run_dir / "flower.log"
    with log_path.open("ab") as log, sigterm_raises_exit():
        superlink = subprocess.Popen(
            [
                "flower-superlink", "--insecure", "--simulation",
                "--host", "127.0.0.1", "--port", str(port),
                "--database", str(flwr_home / "state.db"),
                "--disable-runtime-dependency-installation",
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            # The dataset loads (and is cached for the virtual hospitals) while the SuperLink starts up.
            hospitals = count_hospitals(config)
            values = {**overrides, "run-dir": str(run_dir), "expected-hospitals": len(hospitals)}
            run_config_file = run_dir / "run-config.toml"
            run_config_file.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in sorted(values.items())))
            _wait_healthy(port, superlink)
            first_event = end_offset(run_dir)
            flwr_run = subprocess.Popen(
                [
                    "flwr", "run", str(app_dir()), "cardiofed", "--stream",
                    "--federation-config", simulation_resources(config.protocol, len(hospitals)),
                    "--run-config", str(run_config_file),
                ],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                follow_progress(run_dir, flwr_run, on_event, first_event)
            finally:
                stop_process(flwr_run)
        finally:
            stop_service(superlink)
    results = run_dir / "results.json"
    if not results.is_file():
        raise LaunchError(f"the run ended without results; see {log_path}")
    return results


def follow_progress(
    run_dir: Path,
    process: subprocess.Popen,
    on_event: Callable[[dict[str, Any]], None] | None,
    start: int,
) -> None:
    """Pass each progress event of the run to `on_event` until it is done or `process` (`flwr run`) ends.

    Returns at the "done" event, written after results.json: the caller then stops Flower at once
    rather than wait seconds for its own teardown of a run that has nothing left to do. Events before
    byte `start` (`end_offset` before the run was submitted) belong to an earlier, resumed-from run:
    its "failed" or "done" must not end this one.
    """
    offset = start
    while True:
        finished = process.poll() is not None
        events, offset = read_events(run_dir, offset)
        for event in events:
            if on_event is not None:
                on_event(event)
            if event["event"] == "failed":
                raise LaunchError(f"the experiment failed: {event['message']}")
            if event["event"] == "done":
                return
        if finished:
            return
        time.sleep(0.5)


def _wait_healthy(port: int, superlink: subprocess.Popen) -> None:
    deadline = time.monotonic() + SUPERLINK_STARTUP_S
    while time.monotonic() < deadline:
        if superlink.poll() is not None:
            raise LaunchError(f"flower-superlink exited with status {superlink.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise LaunchError(
        f"flower-superlink did not become healthy on port {port} within {SUPERLINK_STARTUP_S:.0f}s"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def toml_value(value: Any) -> str:
    """`value` written as a TOML value (for run-config files)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
