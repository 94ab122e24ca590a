"""Coordinator deployment subcommands: `cardiofed coordinator start | register | nodes | submit`.

`start` becomes the SuperLink (foreground, for a terminal or systemd); the others talk to it through the
Flower CLI connection that `start` writes into the state folder, so every command takes the same
`--state DIR --certs DIR [--host H --port P]` as `start`.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console

from server.commands import one_line_summary
from server.deployment import DEFAULT_PORT, Coordinator, exec_coordinator, register_hospital, registered_nodes
from server.deployment import submit_experiment as submit
from server.launcher import LaunchError
from shared.config import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed coordinator ...`."""
    coordinator = subparsers.add_parser(
        "coordinator", help="[coordinator] run the SuperLink, admit hospitals, submit experiments"
    )
    commands = coordinator.add_subparsers(dest="coordinator_command", metavar="COMMAND", required=True)

    start = commands.add_parser(
        "start",
        help="run the Flower SuperLink (TLS, SuperNode authentication, persistent state) in the foreground",
    )
    _add_location(start)
    start.set_defaults(handler=_start)

    admit = commands.add_parser("register", help="admit a hospital: register its SuperNode public key")
    _add_location(admit)
    admit.add_argument("public_key", type=Path, help="the hospital's .pub file")
    admit.add_argument("--hospital-id", required=True, help="the hospital the key belongs to")
    admit.set_defaults(handler=_register)

    nodes = commands.add_parser("nodes", help="list the registered SuperNodes and whether they are online")
    _add_location(nodes)
    nodes.set_defaults(handler=_nodes)

    experiment = commands.add_parser(
        "submit",
        help="run an experiment on the connected hospitals and wait for its results",
        description="Submit the app to the running SuperLink (`flwr run`) and follow its progress. "
        "Unset keys keep the defaults of [tool.flwr.app.config] in pyproject.toml.",
    )
    _add_location(experiment)
    experiment.add_argument("--out", required=True, type=Path, help="run folder on this machine")
    experiment.add_argument("--hospitals", required=True, type=int, help="how many hospitals to wait for")
    experiment.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    experiment.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="run-config key (TOML value)"
    )
    experiment.set_defaults(handler=_submit)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, type=Path, help="the coordinator's state folder")
    parser.add_argument("--certs", required=True, type=Path, help="folder from `deploy/certs.sh federation`")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the SuperLink serves (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"its port (default {DEFAULT_PORT})")


def _coordinator(args: argparse.Namespace) -> Coordinator:
    return Coordinator(args.state.resolve(), args.certs.resolve(), args.host, args.port)


def _start(args: argparse.Namespace) -> int:
    coordinator = _coordinator(args)
    print(f"SuperLink on {coordinator.address}; log {coordinator.log_file}", flush=True)
    try:
        exec_coordinator(coordinator)
    except LaunchError as error:
        print(f"error: {error}")
        return 1
    return 0  # not reached: the process is now the SuperLink


def _register(args: argparse.Namespace) -> int:
    try:
        node_id = register_hospital(_coordinator(args), args.public_key, args.hospital_id)
    except LaunchError as error:
        print(f"error: {error}")
        return 1
    print(f"hospital {args.hospital_id} registered as SuperNode {node_id}")
    return 0


def _nodes(args: argparse.Namespace) -> int:
    try:
        nodes = registered_nodes(_coordinator(args))
    except LaunchError as error:
        print(f"error: {error}")
        return 1
    for node in nodes:
        print(f"{node['node-id']:>22}  {node['status']:<12} online since {node['online-at']}")
    print(f"{len(nodes)} SuperNode(s) registered")
    return 0


def _submit(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        overrides = _settings(args.set)
        overrides.update({"run-dir": str(args.out.resolve()), "expected-hospitals": args.hospitals})
        if args.resume:
            overrides["resume"] = True

        def on_event(event: dict[str, Any]) -> None:
            if event["event"] in ("census", "round", "fold", "resumed", "census-problem"):
                shown = {k: v for k, v in event.items() if k not in ("event", "time")}
                console.print(f"{event['event']}: {json.dumps(shown)}")

        results = submit(_coordinator(args), overrides, on_event)
    except (LaunchError, ConfigError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    console.print(one_line_summary(json.loads(results.read_text())))
    console.print(f"results: {results}")
    return 0


def _settings(items: list[str]) -> dict[str, Any]:
    """`--set` items as run-config values (TOML: strings in quotes, e.g. protocol="loho")."""
    try:
        return tomllib.loads("\n".join(items))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--set expects KEY=VALUE with a TOML value: {error}") from error
