"""Coordinator deployment subcommands: `cardiofed coordinator start | register | nodes | submit`.

`start` runs the SuperLink on loopback and the Fleet gateway on the hospitals' address (foreground, for a
terminal or systemd); the others talk to the SuperLink through the Flower CLI connection that `start` writes
into the state folder, on this machine only, so every command takes the same
`--state DIR --certs DIR [--host H --port P --control-port C]` as `start`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from server.commands import one_line_summary
from server.deployment import (
    DEFAULT_CONTROL_PORT,
    DEFAULT_PORT,
    Coordinator,
    register_hospital,
    registered_nodes,
    run_coordinator,
)
from server.deployment import submit_experiment as submit
from server.launcher import LaunchError
from shared.config import ConfigError, parse_set_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `cardiofed coordinator ...`."""
    coordinator = subparsers.add_parser(
        "coordinator", help="[coordinator] run the SuperLink, admit hospitals, submit experiments"
    )
    commands = coordinator.add_subparsers(dest="coordinator_command", metavar="COMMAND", required=True)

    start = commands.add_parser(
        "start",
        help="run the Flower SuperLink (TLS, SuperNode authentication, persistent state) in the foreground",
        description="Run the SuperLink on 127.0.0.1:CONTROL_PORT (run submission and registration, for this "
        "machine only) and the Fleet gateway on HOST:PORT, the one port hospitals connect to.",
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
        "--app", type=Path, help="the app folder to submit (default: this installation's cardiofed app)"
    )
    experiment.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run-config key (a TOML value, or a bare word for a string)",
    )
    experiment.set_defaults(handler=_submit)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, type=Path, help="the coordinator's state folder")
    parser.add_argument("--certs", required=True, type=Path, help="folder from `deploy/certs.sh federation`")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address hospitals connect to (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port hospitals connect to (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--control-port", type=int, default=DEFAULT_CONTROL_PORT,
        help=f"the SuperLink's own port, on 127.0.0.1 only (default {DEFAULT_CONTROL_PORT})",
    )  # fmt: skip


def _coordinator(args: argparse.Namespace) -> Coordinator:
    return Coordinator(args.state.resolve(), args.certs.resolve(), args.host, args.port, args.control_port)


def _start(args: argparse.Namespace) -> int:
    coordinator = _coordinator(args)
    print(
        f"hospitals connect to {coordinator.address}; SuperLink on {coordinator.control_address} "
        f"(this machine only); log {coordinator.log_file}",
        flush=True,
    )
    try:
        run_coordinator(coordinator)
    except LaunchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


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
        overrides = parse_set_options(args.set)
        overrides.update({"run-dir": str(args.out.resolve()), "expected-hospitals": args.hospitals})
        if args.resume:
            overrides["resume"] = True

        def on_event(event: dict[str, Any]) -> None:
            if event["event"] in ("census", "round", "fold", "resumed", "census-problem"):
                shown = {k: v for k, v in event.items() if k not in ("event", "time")}
                console.print(f"{event['event']}: {json.dumps(shown)}")

        results = submit(_coordinator(args), overrides, on_event, args.app)
    except (LaunchError, ConfigError) as error:
        console.print(f"[red]error:[/red] {error}")
        return 1
    console.print(one_line_summary(json.loads(results.read_text())))
    console.print(f"results: {results}")
    return 0
